"""Decoding-order metrics (decoding/order.py): commit steps recorded by the loop, and Kendall's tau
and Spearman's rho against left to right, on hand-made decoding traces.

Hand-worked values: for commit steps [0, 1, 0], the sorted steps are [0, 0, 1]; of the three
position pairs one is untied in both and discordant, so tau-b = -1 / sqrt(2 * 2) = -0.5; the
average ranks are [1.5, 1.5, 3] and [1.5, 3, 1.5], whose Pearson r is -0.75 / 1.5 = -0.5.
"""

import math

import pytest
import torch
from tasks_helpers import task_manager
from test_samplers import DUS_CONFIDENCE, MASK, TabledDenoiser, fixed, remdm_denoiser, run

from parallelbench_lmeval.decoding import DecodingConfig, unmask
from parallelbench_lmeval.decoding.order import NOT_COMMITTED, CommitSteps, order_correlations, order_metrics
from parallelbench_lmeval.decoding.samplers import SAMPLER_CLASSES

N = NOT_COMMITTED
PAD = 6


def correlations(*traces, kept=None):
    steps = torch.tensor(traces)
    kept = torch.ones_like(steps, dtype=torch.bool) if kept is None else torch.tensor(kept, dtype=torch.bool)
    kendall, spearman = order_correlations(steps, kept)
    return kendall.tolist(), spearman.tolist()


@pytest.mark.parametrize(
    "steps, kendall, spearman",
    [
        ([0, 1, 2, 3, 4, 5], 1.0, 1.0),  # left to right, one per step
        ([0, 0, 1, 1, 2, 2], 1.0, 1.0),  # left to right, two per step: ties count as in order
        ([5, 4, 3, 2, 1, 0], -1.0, -1.0),  # reversed
        ([2, 2, 1, 1, 0, 0], -1.0, -1.0),  # reversed blocks of two
        ([0, 1, 0], -0.5, -0.5),  # worked in the module docstring of this file
        ([0, N, 1], 1 / 3, 0.5),  # never committed: after every step, as steps [0, 2, 1]
        ([N, 0, N], -0.5, -0.5),  # two never committed positions tie: as [1, 0, 1]
    ],
)
def test_order_correlations_on_hand_made_traces(steps, kendall, spearman):
    (tau,), (rho,) = correlations(steps)
    assert tau == pytest.approx(kendall) and rho == pytest.approx(spearman)


@pytest.mark.parametrize("steps", [[3, 3, 3, 3], [N, N, N], [7], []])
def test_an_order_with_no_pair_to_compare_is_undefined(steps):
    (tau,), (rho,) = correlations(steps) if steps else ([math.nan], [math.nan])
    assert math.isnan(tau) and math.isnan(rho)


def test_left_out_positions_do_not_count_and_rows_are_independent():
    kendall, spearman = correlations([9, 0, 1, 9, 2], [0, 1, 0, 2, 1], kept=[[0, 1, 1, 0, 1], [1, 1, 1, 1, 1]])
    assert kendall[0] == pytest.approx(1.0) and spearman[0] == pytest.approx(1.0)
    # [0, 1, 0, 2, 1] against [0, 0, 1, 1, 2]: 4 concordant, 2 discordant, 8 untied pairs in each;
    # average ranks [1.5, 3.5, 1.5, 5, 3.5] and [1.5, 1.5, 3.5, 3.5, 5]: covariance 2.75, variances 9
    assert kendall[1] == pytest.approx(0.25) and spearman[1] == pytest.approx(2.75 / 9)


def test_order_correlations_match_scipy_with_ties_and_left_out_positions():
    stats = pytest.importorskip("scipy.stats")
    generator = torch.Generator().manual_seed(0)
    steps = torch.randint(-1, 6, (100, 11), generator=generator)
    kept = torch.rand(100, 11, generator=generator) > 0.3
    kendall, spearman = order_correlations(steps, kept)
    for row in range(100):
        order = steps[row][kept[row]].double()
        order[order == N] = 2**31 - 1
        expected = (stats.kendalltau(order.sort().values, order)[0], stats.spearmanr(order.sort().values, order)[0])
        for mine, theirs in zip((kendall[row].item(), spearman[row].item()), expected):
            assert (math.isnan(mine) and math.isnan(theirs)) or mine == pytest.approx(theirs, abs=1e-12)


def test_order_metrics_leave_out_padding_and_undefined_values():
    tokens = torch.tensor([[1, 2, PAD, PAD], [1, PAD, PAD, PAD], [1, 2, 3, 4]])
    steps = torch.tensor([[2, 3, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])  # the padding tail committed first
    with_pad, one_token, one_step = order_metrics(steps, tokens, pad_id=PAD)
    # [2, 3, 0, 0] against [0, 0, 2, 3]: 4 discordant pairs, 5 untied in each: -4 / 5
    assert with_pad["dec_order_kendall"] == pytest.approx(-0.8)
    assert with_pad["dec_order_kendall_ignore_pad"] == 1.0 and with_pad["dec_order_spearman_ignore_pad"] == 1.0
    assert set(one_token) == {"dec_order_kendall", "dec_order_spearman"}  # one position left: no order
    assert one_step == {}  # everything in one step
    (no_padding,) = order_metrics(torch.tensor([[1, 0]]), torch.tensor([[PAD, PAD]]), pad_id=None)
    assert no_padding == {"dec_order_kendall": -1.0, "dec_order_spearman": -1.0,
                          "dec_order_kendall_ignore_pad": -1.0, "dec_order_spearman_ignore_pad": -1.0}


def test_commit_steps_keep_the_first_commit_of_taken_back_tokens():
    # as the reference: the first step at which a position's history shows it unmasked
    M = MASK
    row_0 = [[M, M, M, M], [0, 1, M, M], [0, M, 2, M], [0, 1, 2, 3]]  # 1 taken back at step 1, refilled at 2
    row_1 = [[0, 1, M, M], [0, 1, 2, 3], [0, M, 2, 3], [0, M, 2, 3]]  # steps 3..5; 1 taken back for good
    commits = CommitSteps(2, 4, MASK, "cpu")
    commits.steps[1] = torch.tensor([0, 1, N, N])
    for step in range(3):
        after = torch.tensor([row_0[step + 1], row_1[step + 1]])
        commits.record(torch.tensor([0, 1]), after, torch.tensor([step, step + 3]))
    assert commits.steps.tolist() == [[0, 0, 1, 2], [0, 1, 3, 3]]
    commits.record(torch.tensor([1]), torch.tensor([[0, 5, 2, 3]]), torch.tensor([6]))
    assert commits.steps.tolist() == [[0, 0, 1, 2], [0, 1, 3, 3]]  # refilled: still its first commit
    commits.record(torch.tensor([0]), torch.tensor([[0, 1, 2, 3]]), torch.tensor([9]))
    assert commits.steps.tolist() == [[0, 0, 1, 2], [0, 1, 3, 3]]  # a subset of rows: the others untouched


class NoHostSync(torch.overrides.TorchFunctionMode):
    """Fails on the tensor operations that wait for the device: reading values to the host, or
    indexing with a boolean mask (whose result size depends on the values)."""

    SYNCING = {torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.__bool__, torch.Tensor.__int__,
               torch.Tensor.__float__, torch.Tensor.cpu, torch.Tensor.numpy, torch.Tensor.nonzero, torch.nonzero,
               torch.Tensor.masked_select, torch.masked_select, torch.unique, torch.Tensor.unique}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        indices = args[1:2] if func in (torch.Tensor.__getitem__, torch.Tensor.__setitem__) else ()
        if func in self.SYNCING or any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in indices):
            raise AssertionError(f"{func.__name__} waits for the device")
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("rows", [[0, 1, 2], [2, 0]])
def test_recording_a_step_needs_no_host_synchronisation(rows):
    commits = CommitSteps(3, 5, MASK, "cpu")
    before = torch.full((len(rows), 5), MASK)
    after = before.clone()
    after[:, 1] = 3
    with NoHostSync():
        commits.record(torch.tensor(rows), after, torch.tensor([4] * len(rows)))
    with pytest.raises(AssertionError, match="waits for the device"), NoHostSync():
        commits.steps.tolist()
    assert commits.steps[rows, 1].tolist() == [4] * len(rows)


def test_the_loop_records_steps_of_remasking_samplers_as_their_first_commit():
    rcr = TabledDenoiser(fixed([{0: 0.9}, {1: 0.2}, {2: 0.5}, {3: 0.3}]))
    # canvases (test_samplers): [M M M M] -> [0 M M M] -> [0 1 M M] -> [0 M 2 3] -> [0 1 2 3]
    assert run(rcr, gen_length=4, block_length=2, steps=4, sampler="rcr").commit_steps.tolist() == [[0, 1, 2, 2]]
    remdm = remdm_denoiser()
    # [M M M M] -> [0 M M M] -> [0 1 M M] -> [M 1 2 M] (0 taken back) -> [0 1 2 M] -> [0 1 2 3]
    assert run(remdm, gen_length=4, sampler="remdm").commit_steps.tolist() == [[0, 1, 2, 4]]
    dus = TabledDenoiser(fixed([{i % 7: c} for i, c in enumerate(DUS_CONFIDENCE)]))
    # levels [0, 4], [2, 6], [1, 3, 5, 7]; 4 and 6 are below 0.3 and stay masked
    assert run(dus, gen_length=8, sampler="dus").commit_steps.tolist() == [[0, 2, 1, 2, N, 2, N, 2]]


def rising_confidence(length: int):
    """Position i proposes token i % 6 with confidence rising with i: confidence order is right to left."""
    return TabledDenoiser(fixed([{i % 6: 0.3 + 0.05 * i} for i in range(length)]))


@pytest.mark.parametrize(
    "options, kendall",
    [
        ({"unmasking": "left_to_right", "k": 2}, 1.0),
        ({"unmasking": "confidence", "k": 1}, -1.0),
        ({"unmasking": "confidence", "k": 2}, -1.0),
        ({"unmasking": "confidence", "k": 2, "block_length": 4}, 1 / 3),
    ],
)
def test_orders_measured_through_the_loop(options, kendall):
    result = run(rising_confidence(8), gen_length=8, **options)
    (metrics,) = order_metrics(result.commit_steps, result.tokens, pad_id=None)
    assert metrics["dec_order_kendall"] == pytest.approx(kendall)


@pytest.mark.parametrize("sampler", sorted(SAMPLER_CLASSES))
def test_every_sampler_gives_each_filled_position_a_step_it_took(sampler):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 12, MASK + 1, generator=generator)

    def denoise(canvas, rows, query):
        values = logits[rows].gather(1, query.positions.unsqueeze(-1).expand(-1, -1, MASK + 1))
        if query.mirror:
            values = torch.cat([values, logits[rows, query.block.start : query.block.end]], dim=1)
        return values.clone()

    options = {"pc": {"pc_frequencies": "uniform"}}.get(sampler, {})
    config = DecodingConfig.from_options(gen_length=12, block_length=4, sampler=sampler, **options)
    result = unmask(denoise, 3, config, MASK)
    filled = result.tokens != MASK
    assert ((result.commit_steps != N) == filled).all()
    assert (result.commit_steps < result.nfe.unsqueeze(-1)).all()


def evaluate_ideal(model_args: str) -> dict:
    import lm_eval

    from parallelbench_lmeval.registration import ensure_registered

    ensure_registered()
    return lm_eval.simple_evaluate(model="dllm", model_args=f"pretrained=ideal,{model_args}", tasks=["parallelbench_puzzle"],
                                   limit=3, device="cpu", task_manager=task_manager())["results"]


def test_lm_eval_reports_the_order_per_task_and_averages_it_over_the_group():
    results = evaluate_ideal("unmasking=left_to_right,k=2")
    for name in ("parallelbench_latin_square", "parallelbench_sudoku", "parallelbench_puzzle"):
        for metric in ("dec_order_kendall", "dec_order_spearman", "dec_order_kendall_ignore_pad"):
            assert results[name][f"{metric},none"] == pytest.approx(1.0)


def test_an_order_undefined_for_every_sample_is_left_out_of_the_results():
    results = evaluate_ideal("k=64")  # every cell in one step
    assert results["parallelbench_puzzle"]["tokens_per_step,none"] == 16
    assert not any(key.startswith("dec_order") for name in results for key in results[name])
