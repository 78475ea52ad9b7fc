"""Scores, selection rules, schedules and the loop, on hand-made logits."""

import math

import pytest
import torch

from parallelbench_lmeval.decoding import DecodingConfig, unmask
from parallelbench_lmeval.decoding import selection
from parallelbench_lmeval.decoding.noise import RowNoise
from parallelbench_lmeval.decoding.proposal import propose
from parallelbench_lmeval.decoding.schedule import block_schedule, dream_counts, spread
from parallelbench_lmeval.decoding.scores import SCORES
from parallelbench_lmeval.decoding.step import Block, Query, Step

NEG = float("-inf")


def batch_noise(seed, rows):
    return RowNoise(torch.Generator().manual_seed(seed), "cpu").for_rows(range(rows))


def probs(*rows):
    return torch.tensor(rows, dtype=torch.float32)


# ---------------------------------------------------------------- scores
def test_confidence_is_probability_of_proposal():
    p = probs([0.1, 0.7, 0.2], [0.5, 0.25, 0.25])
    proposal = torch.tensor([1, 2])
    assert SCORES["confidence"](p, proposal, None).tolist() == pytest.approx([0.7, 0.25])


def test_margin_is_top1_minus_top2_whatever_the_proposal():
    p = probs([0.1, 0.7, 0.2], [0.5, 0.25, 0.25])
    assert SCORES["margin"](p, torch.tensor([0, 2]), None).tolist() == pytest.approx([0.5, 0.25])


def test_entropy_score_is_negative_entropy_and_ignores_zero_probabilities():
    p = probs([0.5, 0.5, 0.0], [1.0, 0.0, 0.0])
    assert SCORES["entropy"](p, torch.tensor([0, 0]), None).tolist() == pytest.approx([-math.log(2), 0.0])


def test_random_score_is_uniform_noise_from_the_generator():
    p = probs([0.5, 0.5], [0.5, 0.5])
    a = SCORES["random"](p, None, batch_noise(3, 2))
    b = SCORES["random"](p, None, batch_noise(3, 2))
    assert torch.equal(a, b) and ((a >= 0) & (a < 1)).all()


# ---------------------------------------------------------------- proposals
def test_greedy_proposal_is_argmax():
    logits = torch.tensor([[0.0, 3.0, 1.0]])
    assert propose(logits, logits.softmax(-1), 0.0, None).tolist() == [1]


def test_gumbel_proposal_samples_the_softmax_at_temperature_one():
    logits = torch.log(torch.tensor([0.2, 0.8])).expand(20000, 2)
    draws = propose(logits, logits.softmax(-1), 1.0, batch_noise(0, 20000))
    assert draws.float().mean().item() == pytest.approx(0.8, abs=0.02)


def test_gumbel_proposal_is_float64_and_survives_huge_logits():
    logits = torch.tensor([[1000.0, 999.0, -1000.0]])
    draws = propose(logits.expand(4000, 3), None, 1.0, batch_noise(1, 4000))
    # exp(1000) overflows float32 and float64; the log-space form still samples e/(1+e) vs 1/(1+e)
    assert draws.max().item() <= 1
    assert draws.float().mean().item() == pytest.approx(1 / (1 + math.e), abs=0.03)


# ---------------------------------------------------------------- selection rules
def scores_and_candidates(values):
    scores = torch.tensor([values], dtype=torch.float32)
    return scores, scores > NEG


def test_top_k_takes_the_k_best_and_breaks_ties_by_position():
    scores, candidates = scores_and_candidates([0.5, 0.9, 0.5, NEG, 0.5])
    assert selection.top_k(scores, candidates, 2).tolist() == [[True, True, False, False, False]]


def test_top_k_never_commits_a_non_candidate():
    scores, candidates = scores_and_candidates([NEG, 0.2, NEG])
    assert selection.top_k(scores, candidates, 3).tolist() == [[False, True, False]]


def test_threshold_commits_best_even_below_gamma():
    scores, candidates = scores_and_candidates([0.3, 0.4, 0.1])
    assert selection.threshold(scores, candidates, 0.9).tolist() == [[False, True, False]]


def test_threshold_uses_greater_or_equal():
    scores, candidates = scores_and_candidates([0.5, 0.75, 0.49])
    assert selection.threshold(scores, candidates, 0.5).tolist() == [[True, True, False]]


def test_threshold_of_one_commits_only_certain_positions():
    scores, candidates = scores_and_candidates([1.0, 0.999, 1.0])
    assert selection.threshold(scores, candidates, 1.0).tolist() == [[True, False, True]]


def test_factor_commits_the_longest_passing_prefix():
    # sorted c = 0.99, 0.9, 0.8, 0.7: (m+1)(1-c(m)) = -, 0.3, 0.8, 1.5
    scores, candidates = scores_and_candidates([0.8, 0.99, 0.7, 0.9])
    assert selection.factor(scores, candidates, 1.0).tolist() == [[True, True, False, True]]
    assert selection.factor(scores, candidates, 0.5).tolist() == [[False, True, False, True]]
    assert selection.factor(scores, candidates, 2.0).tolist() == [[True, True, True, True]]


def test_factor_always_commits_at_least_one():
    scores, candidates = scores_and_candidates([0.1, 0.2])
    assert selection.factor(scores, candidates, 0.01).tolist() == [[False, True]]


def test_factor_off_by_one_of_the_released_code_is_fixed():
    # only the last rank fails: the released code would commit all three
    scores, candidates = scores_and_candidates([0.95, 0.9, 0.5])  # 0.3, 2.0 at m=2,3
    assert selection.factor(scores, candidates, 1.0).tolist() == [[True, True, False]]


@pytest.mark.parametrize(
    "values, f, expected",
    [
        ([0.95, 0.9, 0.5], 1.0, [True, True, True]),  # only the last rank fails: the released rule commits all
        ([0.95, 0.9, 0.6, 0.55], 1.0, [True, True, False, False]),  # rank 3 of 4 fails: stop before it
        ([0.95, 0.5, 0.4, 0.3], 1.0, [True, False, False, False]),  # rank 2 fails
        ([0.99, 0.98, 0.97], 1.0, [True, True, True]),  # none fails
        ([0.2], 0.01, [True]),  # one candidate
    ],
)
def test_released_factor_rule_has_the_off_by_one(values, f, expected):
    scores, candidates = scores_and_candidates(values)
    assert selection.released_factor(scores, candidates, f).tolist() == [expected]


def test_released_factor_compares_in_the_scores_precision():
    # c(2) = float32(0.8); the bound 1 - f/3 lies just above it in float64 but rounds to it in float32,
    # where the reference compares (a float32 tensor against a Python float): rank 2 passes
    c = torch.tensor(0.8, dtype=torch.float32).item()
    f = 3 * (1 - (c + 1e-12))
    bound = 1 - f / 3
    assert c < bound and torch.tensor(bound, dtype=torch.float32).item() == c
    scores, candidates = scores_and_candidates([0.99, c, 0.1, 0.05])
    assert selection.released_factor(scores, candidates, f).tolist() == [[True, True, False, False]]
    assert selection.released_factor(scores.double(), candidates, f).tolist() == [[True, False, False, False]]


def test_released_factor_with_entropy_scores_commits_one_below_minus_one():
    scores, candidates = scores_and_candidates([-1.5, -2.0, NEG])
    assert selection.released_factor(scores, candidates, 1.0).tolist() == [[True, False, False]]


def test_factor_ignores_non_candidates():
    scores, candidates = scores_and_candidates([0.99, NEG, 0.98])
    assert selection.factor(scores, candidates, 1.0).tolist() == [[True, False, True]]


# ---------------------------------------------------------------- schedule
def test_remainder_is_spread_over_the_first_steps():
    assert spread(32, 5) == (7, 7, 6, 6, 6)
    assert spread(4, 8) == (1, 1, 1, 1)  # never a step that commits nothing


def test_top_k_schedule_with_k_not_dividing_the_length():
    config = DecodingConfig.from_options(gen_length=10, k=4)
    (block,) = block_schedule(config)
    assert block.step_counts == (4, 3, 3)


def test_semi_autoregressive_blocks_split_steps_evenly():
    config = DecodingConfig.from_options(gen_length=32, steps=8, block_length=8)
    blocks = block_schedule(config)
    assert [(b.start, b.end) for b in blocks] == [(0, 8), (8, 16), (16, 24), (24, 32)]
    assert all(b.step_counts == (4, 4) for b in blocks)


def test_left_to_right_blocks_that_do_not_divide():
    config = DecodingConfig.from_options(gen_length=10, unmasking="left_to_right", k=4)
    assert [(b.start, b.end, b.step_counts) for b in block_schedule(config)] == [
        (0, 4, (4,)), (4, 8, (4,)), (8, 10, (2,))
    ]


def reference_dream_counts(masks: int, steps: int, eps: float) -> list[int]:
    """The benchmark's Dream step counts written out step by step, as its sample_block computes them:
    0-dim float32 tensors for the timesteps and the mask count, truncation by int()."""
    timesteps = torch.linspace(1, eps, steps + 1)
    counts = []
    for i in range(steps):
        left = torch.tensor([[masks - sum(counts)]]).sum() / 1  # a float32 tensor, as mask_index.sum() / B
        t, s = timesteps[i], timesteps[i + 1]
        counts.append(int(left * (1 - s / t)) if i < steps - 1 else int(left))
    return counts


@pytest.mark.parametrize("eps", [0.0, 1e-3])
def test_dream_counts_follow_the_reference_float32_arithmetic(eps):
    for length in (1, 2, 4, 8, 16, 32, 64, 128):
        for steps in range(1, length + 1):
            assert list(dream_counts(length, steps, eps)) == reference_dream_counts(length, steps, eps)


def test_dream_counts_are_uneven_and_can_be_zero():
    assert dream_counts(32, 16) == (2, 1) + (2,) * 13 + (3,)  # k = 2
    assert dream_counts(32, 32) == (1, 1, 1, 1, 0) + (1,) * 26 + (2,)  # k = 1
    assert dream_counts(32, 2) == (16, 16) and spread(32, 2) == (16, 16)  # at most 2 steps: the same as even


def test_dream_schedule_counts_a_step_that_commits_nothing_without_running_it():
    config = DecodingConfig.from_options(gen_length=32, k=1, schedule="dream")
    (block,) = block_schedule(config)
    assert sum(block.step_counts) == 32 and 0 not in block.step_counts
    assert (len(block.step_counts), block.idle_steps) == (31, 1)
    table = [[float(i % 4), 0, 1.0, 0.5, 0] for i in range(32)]
    denoise, calls = fixed_denoiser(table)
    result = unmask(denoise, 2, config, MASK)
    assert len(calls) == 31 and result.nfe.tolist() == [32, 32]  # 31 passes run, the idle one counted
    assert (result.tokens != MASK).all()


def test_even_is_the_default_schedule_without_a_family():
    (block,) = block_schedule(DecodingConfig.from_options(gen_length=32, k=2))
    assert block.step_counts == (2,) * 16 and block.idle_steps == 0


def test_the_family_decides_the_default_schedule_of_top_k_only():
    top_k = DecodingConfig.from_options(gen_length=32, k=2)
    assert top_k.with_family_defaults("dream").schedule == "dream"
    assert top_k.with_family_defaults("llada").schedule == "even"
    assert DecodingConfig.from_options(gen_length=32, k=2, schedule="even").with_family_defaults("dream").schedule == "even"
    threshold = DecodingConfig.from_options(gen_length=32, threshold=0.9)
    assert threshold.with_family_defaults("dream").schedule is None  # adaptive: no schedule to spread
    assert DecodingConfig.from_options(gen_length=32, sampler="wino").with_family_defaults("dream").schedule is None


def test_adaptive_blocks_have_no_fixed_counts():
    config = DecodingConfig.from_options(gen_length=8, threshold=0.9, block_length=4)
    assert [b.step_counts for b in block_schedule(config)] == [None, None]


# ---------------------------------------------------------------- compat=parallelbench
def test_compat_on_dream_normalises_over_the_mask_token_and_never_proposes_it():
    logits = torch.tensor([[[1.0, 2.0, 0.0, 0.0, 3.0]]])  # the mask (id 4) is the most likely token
    query = Query(torch.tensor([[0]]), Block(0, 1))
    step = Step.predict(logits.clone(), query, 0, torch.tensor([0]), torch.tensor([[MASK]]), 0.0,
                        torch.tensor([], dtype=torch.long), None, MASK, torch.float32, mask_normalised=True)
    expected = torch.softmax(logits[0, 0], -1)
    assert step.proposal.tolist() == [[1]]
    assert step.probs[0, 0, :MASK].tolist() == pytest.approx(expected[:MASK].tolist())
    assert step.probs[0, 0, MASK].item() == 0


def test_compat_resolves_per_family():
    config = DecodingConfig.from_options(gen_length=32, sampler="wino", compat="parallelbench")
    assert config.value("wino_canvas") == "plain"  # the benchmark's WINO
    assert DecodingConfig.from_options(gen_length=32, sampler="wino").value("wino_canvas") == "extended"
    assert DecodingConfig.from_options(gen_length=32, k=2, compat="parallelbench").with_family_defaults("dream").family == "dream"
    with pytest.raises(ValueError, match="compat=parallelbench decodes dream top-k on schedule=dream"):
        DecodingConfig.from_options(gen_length=32, k=2, schedule="even", compat="parallelbench").with_family_defaults("dream")
    with pytest.raises(ValueError, match="decodes the whole canvas as one block"):
        DecodingConfig.from_options(gen_length=32, sampler="klass", block_length=8,
                                    compat="parallelbench").with_family_defaults("dream")


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "options, message",
    [
        ({"unmasking": "lowest_entropy"},
         "unknown unmasking strategy 'lowest_entropy' (did you mean 'entropy'?); allowed: random, confidence"),
        ({"threshold": 0.9, "factor": 1.0}, "threshold and factor"),
        ({"k": 2, "steps": 4}, "either k (tokens per step) or steps"),
        ({"block_length": 5}, "block_length=5 does not divide the generation length 32; allowed: 1, 2, 4, 8, 16, 32"),
        ({"threshold": 0.0}, "threshold must lie in (0, 1], got 0.0"),
        ({"threshold": 1.5}, "threshold must lie in (0, 1], got 1.5"),
        ({"k": 0}, "k (tokens per step) must be a positive integer, got 0"),
        ({"k": -3}, "got -3"),
        ({"k": "two"}, "k must be an integer, got 'two'"),
        ({"factor": -1}, "factor must be positive"),
        ({"threshold": 0.9, "k": 2}, "drop k/steps"),
        ({"unmasking": "left_to_right", "threshold": 0.9}, "left_to_right"),
        ({"temperature": -1}, "temperature must be >= 0"),
        ({"steps": 6, "block_length": 8}, "steps=6 cannot be split evenly over 4 blocks"),
        ({"top_p": 0.9}, "unknown decoding option(s) ['top_p']"),
        ({"unmasking": "entropy", "threshold": 0.9}, "threshold must be <= 0"),
        ({"k": 2, "schedule": "uneven"}, "unknown schedule 'uneven'; allowed: even, dream"),
        ({"threshold": 0.9, "schedule": "dream"}, "schedule=dream spreads the tokens of top-k decoding"),
        ({"sampler": "klass", "schedule": "dream"}, "with sampler=standard or pc"),
        ({"k": 2, "schedule": "even", "dream_eps": 0.001}, "dream_eps is the last timestep of schedule=dream; got schedule=even"),
        ({"k": 2, "dream_eps": 1.5}, "dream_eps must lie in [0, 1), got 1.5"),
        ({"k": 2, "schedule": "dream", "dream_eps": 1.0}, "dream_eps must lie in [0, 1), got 1.0"),
        ({"compat": "benchmark"}, "unknown compat 'benchmark'; allowed: none, parallelbench"),
        ({"sampler": "wino", "wino_canvas": "extended", "compat": "parallelbench"}, "wino_canvas=extended is WINO-DLLM's"),
    ],
)
def test_invalid_options_are_rejected_with_a_clear_message(options, message):
    with pytest.raises(ValueError) as error:
        DecodingConfig.from_options(gen_length=32, **options)
    assert message in str(error.value)


def test_options_arrive_as_strings_from_the_command_line():
    config = DecodingConfig.from_options(gen_length="32", k="4", threshold=None, temperature="0.5")
    assert (config.gen_length, config.k, config.temperature) == (32, 4, 0.5)


def test_length_dependent_checks_wait_for_the_length():
    config = DecodingConfig.from_options(gen_length=None, block_length=5)
    with pytest.raises(ValueError, match="does not divide"):
        config.with_gen_length(32)


# ---------------------------------------------------------------- the loop
MASK = 4


def fixed_denoiser(table):
    """Logits that do not depend on the canvas: table[position] over a 5-token vocabulary."""
    table = torch.tensor(table, dtype=torch.float32)
    calls = []

    def denoise(canvas, rows, query):
        calls.append((rows.tolist(), query.positions.tolist()))
        return table[query.positions]

    return denoise, calls


def test_mask_token_is_never_proposed():
    denoise, _ = fixed_denoiser([[0, 0, 0, 0, 50.0]] * 3)
    result = unmask(denoise, 1, DecodingConfig.from_options(gen_length=3), MASK)
    assert MASK not in result.tokens.tolist()[0]


def test_forbidden_ids_suppress_eos():
    eos = 3
    denoise, _ = fixed_denoiser([[0, 1.0, 0, 9.0, 0]] * 3)
    plain = unmask(denoise, 1, DecodingConfig.from_options(gen_length=3), MASK)
    suppressed = unmask(denoise, 1, DecodingConfig.from_options(gen_length=3), MASK, forbidden_ids=[eos])
    assert plain.tokens.tolist() == [[eos] * 3]
    assert suppressed.tokens.tolist() == [[1] * 3]


def test_confidence_order_commits_most_confident_first():
    table = [[5.0, 0, 0, 0, 0], [0, 9.0, 0, 0, 0], [0, 0, 1.0, 0, 0]]
    denoise, _ = fixed_denoiser(table)
    canvases = []

    def recording(canvas, rows, query):
        canvases.append(canvas.clone())
        return denoise(canvas, rows, query)

    result = unmask(recording, 1, DecodingConfig.from_options(gen_length=3), MASK)
    assert result.nfe.tolist() == [3]
    assert [c.tolist()[0] for c in canvases] == [[MASK] * 3, [MASK, 1, MASK], [0, 1, MASK]]


def test_logits_are_asked_for_the_masked_positions_of_the_block_only():
    table = [[5.0, 0, 0, 0, 0], [0, 9.0, 0, 0, 0], [0, 0, 1.0, 0, 0], [0, 0, 0, 2.0, 0]]
    denoise, calls = fixed_denoiser(table)
    unmask(denoise, 1, DecodingConfig.from_options(gen_length=4, block_length=2), MASK)
    assert [positions for _, positions in calls] == [[[0, 1]], [[0]], [[2, 3]], [[2]]]


def test_adaptive_rows_with_fewer_masks_are_padded_with_non_candidates():
    table = torch.zeros(2, 4, 5)
    table[0, :, 0] = torch.tensor([9.0, 9.0, 0.3, 0.2])  # row 0: two sure positions, then one per step
    table[1, :, 1] = 0.4  # row 1: one position per step
    seen = []

    def denoise(canvas, rows, query):
        seen.append(query.positions.tolist())
        return table[rows[:, None], query.positions]

    result = unmask(denoise, 2, DecodingConfig.from_options(gen_length=4, threshold=0.9), MASK)
    assert result.nfe.tolist() == [3, 4]
    assert result.tokens.tolist() == [[0] * 4, [1] * 4]
    assert seen[0] == [[0, 1, 2, 3], [0, 1, 2, 3]]
    assert seen[1] == [[2, 3, 0], [1, 2, 3]]  # row 0 has two masks left: padded with committed position 0


def test_nfe_of_top_k_threshold_and_factor():
    confident = [[9.0, 0, 0, 0, 0]] * 8  # p(x0) ~ 0.9995 everywhere
    denoise, _ = fixed_denoiser(confident)
    nfe = lambda **o: unmask(denoise, 2, DecodingConfig.from_options(gen_length=8, **o), MASK).nfe.tolist()
    assert nfe(k=3) == [3, 3]
    assert nfe(steps=8) == [8, 8]
    assert nfe(threshold=0.9) == [1, 1]
    assert nfe(threshold=0.9, block_length=4) == [2, 2]
    assert nfe(factor=1.0) == [1, 1]
    assert nfe(unmasking="left_to_right", k=3) == [3, 3]


def test_finished_rows_cost_no_forward_passes():
    table = torch.zeros(2, 4, 5)
    table[0, :, 0] = 9.0  # row 0 is sure of everything: one step under a threshold
    table[1, :, 0] = 0.5  # row 1 is unsure: one position per step

    calls = []

    def denoise(canvas, rows, query):
        calls.append(rows.tolist())
        return table[rows[:, None], query.positions]

    result = unmask(denoise, 2, DecodingConfig.from_options(gen_length=4, threshold=0.9), MASK)
    assert result.nfe.tolist() == [1, 4]
    assert calls == [[0, 1], [1], [1], [1]]


def test_left_to_right_fills_blocks_in_order():
    denoise, calls = fixed_denoiser([[0, 0, 9.0, 0, 0]] * 5)
    result = unmask(denoise, 1, DecodingConfig.from_options(gen_length=5, unmasking="left_to_right", k=2), MASK)
    assert [positions for _, positions in calls] == [[[0, 1]], [[2, 3]], [[4]]]
    assert result.tokens.tolist() == [[2] * 5]


def test_a_step_commits_only_masked_positions():
    canvas = torch.tensor([[1, MASK, MASK]])
    logits = torch.tensor([[[0, 0, 0, 9.0, 0]] * 3])
    query = Query(torch.tensor([[0, 1, 2]]), Block(0, 3))
    step = Step.predict(logits, query, 0, torch.tensor([0]), canvas, 0.0, torch.tensor([MASK]), batch_noise(0, 1),
                        MASK, torch.float32)
    assert step.commit(step.candidates).tolist() == [[1, 3, 3]]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_step_in_a_reused_workspace_gives_the_references_probabilities(dtype):
    """The step's probabilities live in memory reused from step to step (no fresh vocabulary-sized
    tensor each step); they are, bit for bit, logits.to(dtype).softmax(-1), forbidden ids at 0."""
    from parallelbench_lmeval.decoding.workspace import Workspace

    workspace, generator = Workspace(), torch.Generator().manual_seed(0)
    first_buffer = None
    for rows, width in ((3, 5), (2, 4), (3, 5)):  # a later step can be smaller than the first
        logits = torch.randn(rows, width, 40, generator=generator) * 4
        canvas = torch.full((rows, width), MASK)
        query = Query(torch.arange(width).expand(rows, -1), Block(0, width))
        step = Step.predict(logits.clone(), query, 0, torch.arange(rows), canvas, 0.0, torch.tensor([MASK]),
                            batch_noise(0, rows), MASK, dtype, workspace=workspace)
        expected = logits.index_fill(-1, torch.tensor([MASK]), float("-inf")).to(dtype).softmax(-1)
        assert step.probs.dtype == dtype and torch.equal(step.probs, expected)
        assert torch.equal(step.proposal, expected.argmax(-1))
        first_buffer = first_buffer or step.probs.data_ptr()
        assert step.probs.data_ptr() == first_buffer


def test_same_seed_same_order_different_seed_different_order():
    denoise, _ = fixed_denoiser([[0, 0, 9.0, 0, 0]] * 16)

    def unmasking_order(seed):
        canvases = []

        def recording(canvas, rows, query):
            canvases.append(canvas.clone())
            return denoise(canvas, rows, query)

        config = DecodingConfig.from_options(gen_length=16, unmasking="random")
        result = unmask(recording, 1, config, MASK, generator=torch.Generator().manual_seed(seed))
        canvases.append(result.tokens)
        return [int(((b != MASK) & (a == MASK)).nonzero()[0, 1]) for a, b in zip(canvases, canvases[1:])]

    assert unmasking_order(0) == unmasking_order(0)
    assert unmasking_order(0) != unmasking_order(1)
    assert sorted(unmasking_order(0)) == list(range(16))


def test_entropy_threshold_commits_positions_of_low_entropy():
    sure, unsure = [9.0, 0, 0, 0, 0], [1.0, 1.0, 0, 0, 0]
    denoise, _ = fixed_denoiser([sure, unsure, sure, unsure])
    config = DecodingConfig.from_options(gen_length=4, unmasking="entropy", threshold=-0.1)
    assert unmask(denoise, 1, config, MASK).nfe.tolist() == [3]  # both sure ones at once, then one by one


def test_per_row_generators_make_random_order_independent_of_the_batch():
    denoise, _ = fixed_denoiser([[0, 0, 9.0, 0, 0]] * 16)

    def first_steps(generators, batch_size):
        canvases = []

        def recording(canvas, rows, query):
            canvases.append(canvas[0].clone())
            return denoise(canvas, rows, query)

        config = DecodingConfig.from_options(gen_length=16, unmasking="random", k=2, temperature=1.0)
        unmask(recording, batch_size, config, MASK, generator=generators)
        return [c.tolist() for c in canvases]

    alone = first_steps([torch.Generator().manual_seed(7)], 1)
    beside_others = first_steps([torch.Generator().manual_seed(s) for s in (7, 1, 2)], 3)
    assert alone == beside_others


def test_dream_eps_follows_the_family_schedule():
    config = DecodingConfig.from_options(gen_length=32, k=2, dream_eps=0.001)
    assert config.with_family_defaults("dream").schedule == "dream"
    with pytest.raises(ValueError, match="dream_eps is the last timestep of schedule=dream, which top-k decoding of the "
                                         "dream family uses by default; this configuration of the llada family decodes "
                                         "with schedule=even"):
        config.with_family_defaults("llada")
    with pytest.raises(ValueError, match="this configuration of the dream family decodes without a top-k schedule"):
        DecodingConfig.from_options(gen_length=32, threshold=0.9, dream_eps=0.001).with_family_defaults("dream")


def test_blocks_need_not_tile_the_length_where_whole_blocks_run_past_it():
    for family in ("ideal", "sdar", "llada2", "fast_dllm_v2"):
        assert DecodingConfig.from_options(gen_length=30, k=1, block_length=4, family=family).block_length == 4
    with pytest.raises(ValueError, match="block_length=4 does not divide the generation length 30"):
        DecodingConfig.from_options(gen_length=30, k=1, block_length=4, family="llada")
