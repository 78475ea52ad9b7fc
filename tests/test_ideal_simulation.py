"""The ideal model through the engine's unmasking loop reproduces the Section 4 accuracies."""

import itertools
import math

import pytest
import torch

from parallelbench_lmeval.decoding import DecodingConfig
from parallelbench_lmeval.ideal import accuracy, decode, item_config, waiting_line_problem
from parallelbench_lmeval.ideal.distributions import EnumeratedAnswers
from parallelbench_lmeval.theory import closed_forms as cf
from parallelbench_lmeval.theory.answer_sets import waiting_line_answers

TRIALS = 2000


def people(n):
    return [f"Person {i}" for i in range(n)]


def assert_close(problem, config, expected, seed):
    """Simulated accuracy within 4 standard errors (of the closed form) of the closed form."""
    simulated, _ = accuracy(problem, config, TRIALS, torch.Generator().manual_seed(seed))
    error = math.sqrt(expected * (1 - expected) / TRIALS)
    assert abs(simulated - expected) <= 4 * error + 1e-12, (simulated, expected)


@pytest.mark.parametrize("n", range(3, 9))
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_shuffle_topk_matches_eq5(n, temperature):
    problem = waiting_line_problem("shuffle", people(n), exclude_input_order=False)
    for k, unmasking in itertools.product(sorted({1, 2, 3, n}), ("random", "confidence")):
        config = DecodingConfig.from_options(gen_length=n, unmasking=unmasking, k=k, temperature=temperature)
        assert_close(problem, config, cf.shuffle_topk_accuracy(cf.step_sizes_of(config)), seed=n * 10 + k)


@pytest.mark.parametrize("n", range(3, 9))
def test_replace_random_greedy_topk(n):
    problem = waiting_line_problem("replace_random", people(n), word="New Person")
    for k, unmasking in itertools.product(sorted({2, 3, n}), ("random", "confidence")):
        config = DecodingConfig.from_options(gen_length=n, unmasking=unmasking, k=k)
        expected = cf.replace_random_greedy_topk_accuracy(cf.step_sizes_of(config))
        if n % k == 0:  # the paper's case k | n: 0.5 for k = 2, 0 for k > 2
            assert expected == (0.5 if k == 2 else 0.0)
        assert_close(problem, config, expected, seed=n * 10 + k)


@pytest.mark.parametrize("n", range(3, 9))
def test_replace_random_sampled(n):
    problem = waiting_line_problem("replace_random", people(n), word="New Person")
    for k in (2, n):
        config = DecodingConfig.from_options(gen_length=n, unmasking="random", k=k, temperature=1.0)
        assert_close(problem, config, cf.replace_random_sampled_topk_accuracy(cf.step_sizes_of(config)), seed=n)
    assert cf.replace_random_sampled_topk_accuracy([n]) == pytest.approx(((n - 1) / n) ** (n - 1))


@pytest.mark.parametrize("n", [3, 5, 8])
def test_thresholds(n):
    replace = waiting_line_problem("replace_random", people(n), word="New Person")
    shuffle = waiting_line_problem("shuffle", people(n), exclude_input_order=False)
    boundary = (n - 1) / n
    for gamma in (0.3, boundary - 0.02, boundary + 0.02):
        config = DecodingConfig.from_options(gen_length=n, unmasking="confidence", threshold=gamma)
        expected = cf.replace_random_threshold_accuracy(n, gamma)
        assert expected == (1.0 if gamma > boundary else 0.0)
        assert_close(replace, config, expected, seed=n)
    for gamma in (0.22, 0.3, 0.45, 0.55):
        config = DecodingConfig.from_options(gen_length=n, unmasking="confidence", threshold=gamma)
        assert_close(shuffle, config, cf.shuffle_threshold_accuracy(n, gamma), seed=n)


def test_threshold_nfe_is_one_by_one_when_nothing_is_confident():
    problem = waiting_line_problem("shuffle", people(6), exclude_input_order=False)
    _, nfe = decode([problem] * 50, DecodingConfig.from_options(gen_length=6, threshold=0.6), torch.Generator().manual_seed(0))
    assert nfe.tolist() == [6] * 50  # every step commits one; the last is certain


@pytest.mark.parametrize("exclude_input_order", [False, True])
def test_analytic_shuffle_marginals_equal_enumeration(exclude_input_order):
    n, mask = 4, 4
    analytic = waiting_line_problem("shuffle", people(n), exclude_input_order=exclude_input_order).distribution
    answers = waiting_line_answers("shuffle", range(n), exclude_input_order=exclude_input_order)
    enumerated = EnumeratedAnswers(torch.tensor(answers))
    canvases = torch.tensor(list(itertools.product(range(n + 1), repeat=n)))  # every partial canvas, 4 = mask
    expected, expected_valid = enumerated.probabilities(canvases, mask, n)
    got, valid = analytic.probabilities(canvases, mask, n)
    assert torch.equal(valid, expected_valid)
    assert torch.allclose(got[valid], expected[valid], atol=1e-12)


def test_invalid_partial_answer_falls_back_to_uniform():
    problem = waiting_line_problem("shuffle", people(3), exclude_input_order=False)
    canvas = torch.tensor([[0, 0, 3]])  # item 0 twice: no arrangement agrees
    _, valid = problem.distribution.probabilities(canvas, 3, 3)
    assert not valid.item()
    from parallelbench_lmeval.decoding.noise import RowNoise
    from parallelbench_lmeval.ideal.model import ProblemBatch

    draw = RowNoise(torch.Generator().manual_seed(0), "cpu").for_rows([0], torch.randn)
    logits = ProblemBatch([problem]).logits(torch.tensor([0]), canvas, 3, draw)
    assert torch.allclose(logits[0, 2, :3].softmax(-1), torch.full((3,), 1 / 3), atol=1e-3)
    assert logits[0, 0, 0] > -1e-3 and logits[0, 0, 1] == -math.inf  # committed positions keep their item


@pytest.mark.parametrize("kind", ["latin_square", "shuffle", "replace_random"])
def test_verification_view_is_the_canvas_with_each_position_alone_hidden(kind):
    """WINO's view (`hidden`): for each block position, the marginal there with that position
    alone masked; computed without the copies of the canvas, it equals them."""
    from parallelbench_lmeval.ideal import latin_square_problem
    from parallelbench_lmeval.ideal.model import ProblemBatch

    problems = {"latin_square": latin_square_problem(list("AB12")),
                "shuffle": waiting_line_problem("shuffle", people(5)),
                "replace_random": waiting_line_problem("replace_random", people(5), word="New Person")}
    problem = problems[kind]
    mask, length = len(problem.alphabet), problem.length
    generator = torch.Generator().manual_seed(0)
    answers, _ = decode([problem] * 6, DecodingConfig.from_options(gen_length=length, k=length), generator)
    # valid partial answers, and invalid ones (a wrong item), with a few positions masked
    canvas = answers.clone()
    canvas[3:, 0] = (canvas[3:, 0] + 1) % mask
    canvas[torch.rand(canvas.shape, generator=generator) < 0.4] = mask
    batch, owner, block = ProblemBatch([problem]), torch.zeros(6, dtype=torch.long), torch.arange(1, length)
    no_noise = lambda shape, dtype: torch.zeros(shape, dtype=dtype)  # noqa: E731
    hidden = batch.logits(owner, canvas, mask, no_noise, hidden=block)
    copies = canvas.unsqueeze(1).repeat(1, len(block), 1)
    copies[:, torch.arange(len(block)), block] = mask
    full = batch.logits(owner.repeat_interleave(len(block)), copies.flatten(0, 1), mask, no_noise)
    assert torch.equal(hidden, full.view(6, len(block), length, -1)[:, torch.arange(len(block)), block])


def test_mixed_batch_decodes_each_problem():
    problems = [
        waiting_line_problem("copy", people(5)),
        waiting_line_problem("reverse", people(5)),
        waiting_line_problem("replace_index", people(5), word="New Person", index=2),
    ]
    tokens, nfe = decode(problems, DecodingConfig.from_options(gen_length=5, k=5), torch.Generator().manual_seed(0))
    assert [p.render(t) for p, t in zip(problems, tokens.tolist())] == [
        '["Person 0", "Person 1", "Person 2", "Person 3", "Person 4"]',
        '["Person 4", "Person 3", "Person 2", "Person 1", "Person 0"]',
        '["Person 0", "Person 1", "New Person", "Person 3", "Person 4"]',
    ]
    assert nfe.tolist() == [1, 1, 1]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"k": 40}, {"gen_length": 5, "k": 40, "block_length": None}),
        ({"k": 1, "block_length": 32}, {"gen_length": 5, "block_length": None}),
        ({"k": 1, "block_length": 2}, {"gen_length": 5, "block_length": 2}),
        ({"steps": 16, "block_length": 2}, {"steps": 15, "block_length": 2}),
        ({"steps": 8, "block_length": 4}, {"steps": 8, "block_length": 4}),
        ({"steps": 8, "block_length": 8}, {"steps": 8, "block_length": None}),
    ],
)
def test_item_config_counts_items(options, expected):
    config = item_config(DecodingConfig.from_options(gen_length=32, **options), 5)
    assert {key: getattr(config, key) for key in expected} == expected


def test_item_config_gives_every_block_a_step():
    # more items than the token canvas: 16 blocks of one cell, 8 steps -> one step per block
    config = item_config(DecodingConfig.from_options(gen_length=8, steps=8, block_length=1), 16)
    assert (config.gen_length, config.steps, config.num_blocks) == (16, 16, 16)


def test_uneven_last_block_decodes():
    problem = waiting_line_problem("shuffle", people(5), exclude_input_order=False)
    config = DecodingConfig.from_options(gen_length=32, k=1, block_length=2)
    _, nfe = decode([problem] * 4, config, torch.Generator().manual_seed(0))
    assert nfe.tolist() == [5] * 4
