"""Section 4 on generated sizes: the ideal model through lm-eval against the closed forms."""

import math

import pytest
import torch

from parallelbench_lmeval.decoding import DecodingConfig
from parallelbench_lmeval.ideal import accuracy, waiting_line_problem
from parallelbench_lmeval.theory import closed_forms as cf
from parallelbench_lmeval.theory import generated
from parallelbench_lmeval.theory.cli import main

ITEMS = 300


def within_sampling_error(measured: float, expected: float, trials: int) -> bool:
    """Within 4 standard errors of the closed form (exact when the closed form is 0 or 1)."""
    return abs(measured - expected) <= 4 * math.sqrt(expected * (1 - expected) / trials) + 1e-12


def test_benchmark_shuffle_closed_form_by_hand():
    # n = 2: the swap is the only answer; every position avoids its own item (greedy), or has no other choice
    assert cf.shuffle_benchmark_topk_accuracy([2], sampled=False) == cf.shuffle_benchmark_topk_accuracy([2], sampled=True) == 1.0
    # n = 3 in one greedy step: each position picks one of its 2 other items; 2 of the 8 picks are derangements
    assert cf.shuffle_benchmark_topk_accuracy([3], sampled=False) == pytest.approx(2 / 8)
    # long lists: the input order is one of n! and the paper's Eq. 5 is reached
    assert cf.shuffle_benchmark_topk_accuracy([2] * 6, sampled=True) == pytest.approx(cf.shuffle_topk_accuracy([2] * 6), abs=1e-3)


@pytest.mark.parametrize("n", [3, 4, 5])
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_benchmark_shuffle_closed_form_matches_the_simulation(n, temperature):
    problem = waiting_line_problem("shuffle", [f"Person {i}" for i in range(n)])  # input order excluded, as scored
    for k in sorted({2, n}):
        config = DecodingConfig.from_options(gen_length=n, unmasking="random", k=k, temperature=temperature)
        simulated, _ = accuracy(problem, config, 2000, torch.Generator().manual_seed(10 * n + k))
        expected = cf.shuffle_benchmark_topk_accuracy(cf.step_sizes_of(config), sampled=temperature > 0)
        assert within_sampling_error(simulated, expected, 2000), (k, simulated, expected)


@pytest.fixture(scope="module")
def n_sweep():
    """Shuffle, Replace Random and Copy at n = 3, 6, 9, k = 2, sampled: one lm-eval run of the ideal model."""
    return generated.n_sweep(("shuffle", "replace_random", "copy"), [3, 6, 9], 2, 1.0, generated.task_manager(ITEMS))


def test_the_n_sweep_through_lm_eval_matches_the_closed_forms(n_sweep):
    for task, points in n_sweep.items():
        assert [p[0] for p in points] == [3, 6, 9]
        for n, measured, stderr, expected in points:
            assert within_sampling_error(measured, expected, ITEMS), (task, n, measured, expected)
            assert stderr == pytest.approx(math.sqrt(measured * (1 - measured) / (ITEMS - 1)), abs=1e-9)
    assert [p[3] for p in n_sweep["copy"]] == [1.0, 1.0, 1.0]
    assert n_sweep["shuffle"][0][3] > n_sweep["shuffle"][1][3]  # parallel decoding costs more with longer lists


def test_the_figure_is_written(tmp_path, n_sweep):
    curves = {temperature: n_sweep for temperature in generated.TEMPERATURES}
    k_curves = {temperature: {task: [(k, 1.0, 0.0, 1.0) for k in (1, 2)] for task in n_sweep} for temperature in generated.TEMPERATURES}
    path = generated.plot(tmp_path / "sweep.png", curves, k_curves, k=2, n=6)
    assert path.stat().st_size > 10_000


def test_generated_report_arguments_are_checked(capsys):
    for arguments, message in (
        (["--n", "1-5"], "--n / --k-n: shuffle: people must be 2 to 223, got 1"),
        (["--ks", "0-3"], "--ks must be at least 1, got 0"),
        (["--items", "0"], "--items must be at least 1, got 0"),
    ):
        with pytest.raises(SystemExit):
            main(["--generated", *arguments])
        assert message in capsys.readouterr().err


def test_generated_report_prints_both_sweeps_and_writes_the_figure(tmp_path, capsys):
    assert main(["--generated", "--n", "3,5", "--k", "3", "--ks", "1,4", "--k-n", "4", "--items", "20", "--plot", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for title in ("k = 3, temperature 1", "n = 4, temperature 1", "k = 3, temperature 0", "n = 4, temperature 0"):
        assert f"generated items, random top-k, {title}: ideal model via lm-eval" in out
    # greedy Replace Random with n = 4 in one step of 4 (k = 4): every position keeps its item
    assert "0.000±0.000 / 0.000" in out
    assert (tmp_path / "generated_sweep.png").stat().st_size > 10_000
