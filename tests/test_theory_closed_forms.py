"""Section 4 closed forms against brute force over the enumerated answer sets."""

import itertools
import math

import pytest

from parallelbench_lmeval.decoding import DecodingConfig
from parallelbench_lmeval.theory import closed_forms as cf
from parallelbench_lmeval.theory.answer_sets import WAITING_LINE_TASKS, latin_squares, sudoku_solutions, waiting_line_answers
from parallelbench_lmeval.theory.brute_force import step_bound, total_correlation

def double_factorial(m):
    return math.prod(range(m, 0, -2))


ITEMS = ("Ann Lee", "Bob Kim", "Cy Moe", "Di Ng", "Ed Orr", "Flo Poe", "Gus Ray")


def paper_answers(task, n):
    return waiting_line_answers(task, ITEMS[:n], word="Zed New", index=n // 2, exclude_input_order=False)


@pytest.mark.parametrize("task", WAITING_LINE_TASKS)
@pytest.mark.parametrize("n", range(2, 8))
def test_brute_force_total_correlation_equals_closed_form(task, n):
    assert total_correlation(paper_answers(task, n)) == pytest.approx(cf.TOTAL_CORRELATION[task](n), abs=1e-9)


def test_closed_forms_match_the_paper_values_and_limits():
    assert cf.total_correlation_replace_random(3) == pytest.approx(2 * (math.log2(3) - 1))
    assert cf.total_correlation_replace_random(10**6) == pytest.approx(math.log2(math.e), abs=1e-5)
    assert cf.total_correlation_shuffle(4) == pytest.approx(8 - math.log2(24))
    assert cf.total_correlation_shuffle(200) > cf.total_correlation_shuffle(100) > 100


def test_latin_square_and_sudoku():
    squares = latin_squares("AB3D")
    assert len(squares) == 576
    assert total_correlation(squares) == pytest.approx(cf.total_correlation_latin_square(4), abs=1e-9)
    assert cf.total_correlation_latin_square(4) == pytest.approx(32 - math.log2(576))
    assert len(sudoku_solutions([[0] * 4] * 4)) == 288
    solutions = sudoku_solutions([[0, 0, 4, 2], [2, 0, 3, 1], [4, 0, 2, 3], [3, 2, 1, 4]])
    assert solutions == [tuple("1342243141233214")]
    assert total_correlation(solutions) == 0


def test_benchmark_shuffle_without_input_order_is_below_the_papers():
    # removing one answer of n! changes C a little (and needs no closed form)
    benchmark = total_correlation(waiting_line_answers("shuffle", ITEMS[:4]))
    assert len(waiting_line_answers("shuffle", ITEMS[:4])) == 23
    assert benchmark != pytest.approx(cf.total_correlation_shuffle(4))
    assert abs(benchmark - cf.total_correlation_shuffle(4)) < 0.2


@pytest.mark.parametrize(
    "partition",
    [[[0, 1, 2, 3, 4]], [[0], [1], [2], [3], [4]], [[0, 1], [2, 3], [4]], [[4, 1, 2], [0, 3]], [[3], [0, 1, 2, 4]]],
)
def test_shuffle_step_bound_equals_brute_force(partition):
    answers = paper_answers("shuffle", 5)
    assert step_bound(answers, partition) == pytest.approx(cf.shuffle_step_bound([len(s) for s in partition]), abs=1e-9)


@pytest.mark.parametrize("n", [2, 4, 6, 8, 10])
def test_shuffle_bound_boundary_cases_and_two_per_step(n):
    assert cf.shuffle_step_bound([n]) == pytest.approx(cf.total_correlation_shuffle(n))
    assert cf.shuffle_step_bound([1] * n) == pytest.approx(0, abs=1e-9)
    assert cf.shuffle_step_bound([2] * (n // 2)) == pytest.approx(math.log2(double_factorial(n) / double_factorial(n - 1)))


def test_step_bound_is_monotone_in_the_number_of_steps():
    # Theorem 2 on the best partition of each size: the fewer steps, the larger the bound
    answers = paper_answers("replace_random", 5)
    best = {steps: min(step_bound(answers, p) for p in _contiguous_partitions(5, steps)) for steps in range(1, 6)}
    assert [best[t] for t in range(1, 6)] == sorted(best.values(), reverse=True)
    assert best[1] == pytest.approx(cf.total_correlation_replace_random(5)) and best[5] == pytest.approx(0)


def _contiguous_partitions(n, steps):
    for cuts in itertools.combinations(range(1, n), steps - 1):
        edges = (0, *cuts, n)
        yield [list(range(a, b)) for a, b in zip(edges, edges[1:])]


@pytest.mark.parametrize("n", range(3, 9))
def test_eq5_special_cases(n):
    assert cf.shuffle_topk_accuracy([1] * n) == 1
    assert cf.shuffle_topk_accuracy([n]) == pytest.approx(math.factorial(n) / n**n)
    if n % 2 == 0:
        assert cf.shuffle_topk_accuracy([2] * (n // 2)) == pytest.approx(double_factorial(n - 1) / double_factorial(n))
    assert cf.replace_random_sampled_topk_accuracy([n]) == pytest.approx(((n - 1) / n) ** (n - 1))
    assert cf.replace_random_sampled_topk_accuracy([1] * n) == pytest.approx(1)


def test_replace_random_table1_values():
    assert cf.replace_random_greedy_topk_accuracy([2, 2, 2]) == 0.5
    assert cf.replace_random_greedy_topk_accuracy([3, 3]) == 0
    assert cf.replace_random_greedy_topk_accuracy([2, 2, 1]) == 1  # remainder step of one: forced
    assert cf.replace_random_threshold_accuracy(6, 5 / 6 + 0.01) == 1
    assert cf.replace_random_threshold_accuracy(6, 5 / 6) == 0  # released rule: >= commits at the boundary
    assert cf.replace_random_threshold_accuracy(6, 0.3) == 0
    assert cf.shuffle_threshold_accuracy(10, 0.51) == 1
    assert cf.shuffle_threshold_accuracy(10, 0.3) == pytest.approx(6 / 27)  # three left commit together


@pytest.mark.parametrize(
    ("options", "sizes"),
    [
        ({"k": 2}, (2, 2, 1)),
        ({"k": 3}, (3, 2)),
        ({"k": 9}, (5,)),
        ({"steps": 2}, (3, 2)),
        ({"k": 2, "unmasking": "left_to_right"}, (2, 2, 1)),
    ],
)
def test_step_sizes_follow_the_engine_schedule(options, sizes):
    assert cf.step_sizes_of(DecodingConfig.from_options(gen_length=5, **options)) == sizes


def test_step_sizes_refuse_adaptive_rules():
    with pytest.raises(ValueError, match="threshold or factor"):
        cf.step_sizes_of(DecodingConfig.from_options(gen_length=5, threshold=0.9))


def test_unknown_task_and_bad_latin_square_are_refused():
    with pytest.raises(ValueError, match="unknown Waiting Line task 'juggle'.*copy"):
        waiting_line_answers("juggle", ITEMS[:3])
    with pytest.raises(ValueError, match="1 to 4 distinct symbols"):
        latin_squares("ABCDE")
