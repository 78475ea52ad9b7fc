"""The samplers (eb, pc, wino, slowfast, klass, dus, rcr, remdm; edit in test_block_diffusion.py) and the key/value caches.

1. Each method's rule on hand-made distributions, small enough to follow by eye: the pure
   functions, then the sampler inside the loop with a denoiser whose predictions are tabled.
2. Batch invariance on the tiny stand-ins: a prompt decodes to the same text with the same NFE
   alone and in a batch of 8 mixed-length prompts, for every sampler and with cache=prefix|dual.
   The BERT and Dream stand-ins predict nearly uniform distributions (top probabilities about
   0.003-0.008), so their thresholds are scaled to that; the LLaDA stand-in is sharpened.
3. Bad sampler and cache options are refused before any weight loads, naming the allowed values.
"""

import json
import math
import re

import pytest
import torch
from test_dllm_model import PROMPTS, requests

from parallelbench_lmeval.decoding import DecodingConfig, unmask
from parallelbench_lmeval.decoding.samplers import SAMPLER_CLASSES
from parallelbench_lmeval.decoding.samplers.klass import EPSILON, drift, guarded_log, kl_divergence, rows_summed_apart
from parallelbench_lmeval.decoding.samplers.slowfast import filled
from parallelbench_lmeval.decoding.samplers.wino import accepted, max_accept, revoked
from parallelbench_lmeval.decoding.schedule import (
    block_schedule,
    dilated_levels,
    maskgit_linear_counts,
    revision_plan,
)
from parallelbench_lmeval.decoding.scores import position_calibrated
from parallelbench_lmeval.decoding.selection import entropy_bounded
from parallelbench_lmeval.models.dllm import DiffusionLM
from parallelbench_lmeval.models.stack import KeyValues

VOCAB, MASK = 8, 7  # tokens 0..6, and the mask id
M = MASK
GEN = 16  # generation length of the model tests (requests() asks for 16 tokens)


def distribution(probabilities: dict[int, float]) -> torch.Tensor:
    """Logits [VOCAB] whose softmax gives `probabilities` (token -> p), the rest of the mass spread
    evenly over the other non-mask tokens; the mask token gets probability 0."""
    rest = [token for token in range(MASK) if token not in probabilities]
    p = torch.zeros(VOCAB, dtype=torch.float64)
    for token, value in probabilities.items():
        p[token] = value
    if rest:
        p[rest] = (1 - sum(probabilities.values())) / len(rest)
        if p[rest[0]] >= max(probabilities.values()):
            raise ValueError(f"{probabilities}: the spread mass would be the argmax")
    return p.log()


class TabledDenoiser:
    """A one-row denoiser: `predict(canvas, call)` gives the logits [G, VOCAB] of every canvas position
    (and `mirror(canvas, call)` those of WINO's verification view); it records what each call saw."""

    def __init__(self, predict, mirror=None):
        self.predict, self.mirror = predict, mirror
        self.canvases, self.positions = [], []

    def __call__(self, canvas, rows, query):
        call = len(self.canvases)
        row = canvas[0].tolist()
        self.canvases.append(row)
        self.positions.append(query.positions[0].tolist())
        logits = self.predict(row, call)[query.positions[0]]
        if query.mirror:
            logits = torch.cat([logits, self.mirror(row, call)[query.block.start : query.block.end]])
        return logits.unsqueeze(0).clone()


def fixed(choices: list[dict[int, float]]):
    """Predictions that depend on neither the canvas nor the step."""
    table = torch.stack([distribution(c) for c in choices])
    return lambda canvas, call: table


def run(denoiser, **options):
    config = DecodingConfig.from_options(**options)
    return unmask(denoiser, 1, config, MASK)


def commits(denoiser, result) -> list[list[int]]:
    """The positions each step committed (masked before the step, not after it)."""
    states = [*denoiser.canvases, result.tokens[0].tolist()]
    return [[i for i, (a, b) in enumerate(zip(before, after)) if a == MASK and b != MASK]
            for before, after in zip(states, states[1:])]


# ================================================================ 1. rules on hand-made predictions
# ---------------------------------------------------------------- WINO
def test_wino_max_accept_is_seventy_percent_of_the_masks_clamped_to_5_and_20():
    masks = torch.tensor([1, 8, 10, 28, 29, 30])
    assert max_accept(masks).tolist() == [5, 5, 7, 19, 20, 20]


def test_wino_accepts_strictly_above_the_threshold():
    confidence = torch.tensor([[0.7, 0.6, 0.9, 0.2, 0.95]], dtype=torch.float64)
    candidates = torch.tensor([[True, True, True, True, False]])
    assert accepted(confidence, candidates, 0.6).tolist() == [[True, False, True, False, False]]


def test_wino_accepts_the_best_candidate_when_none_passes():
    confidence = torch.tensor([[0.3, 0.5, 0.99, 0.4]], dtype=torch.float64)
    candidates = torch.tensor([[True, True, False, True]])
    assert accepted(confidence, candidates, 0.6).tolist() == [[False, True, False, False]]


def test_wino_accepts_at_most_max_accept_of_the_best():
    # 10 candidates all above the threshold: int(0.7 * 10) = 7 of them, the most confident
    confidence = torch.tensor([[0.91, 0.99, 0.92, 0.98, 0.93, 0.97, 0.94, 0.96, 0.95, 0.90]], dtype=torch.float64)
    chosen = accepted(confidence, torch.ones_like(confidence, dtype=torch.bool), 0.5)
    assert chosen[0].nonzero().squeeze(-1).tolist() == [1, 3, 4, 5, 6, 7, 8]


def test_wino_revokes_tracked_tokens_strictly_below_the_back_threshold():
    verification = torch.tensor([[0.95, 0.5, 0.9, 0.2, 0.1]], dtype=torch.float64)
    tracked = torch.tensor([[True, True, True, False, True]])
    chosen = revoked(verification, tracked, 0.9, torch.tensor([30]))
    assert chosen.tolist() == [[False, True, False, False, True]]  # 0.9 stays; untracked 0.2 stays


def test_wino_revokes_last_accept_minus_one_when_at_least_last_accept_are_doubtful():
    verification = torch.tensor([[0.3, 0.1, 0.95, 0.2]], dtype=torch.float64)
    tracked = torch.ones(1, 4, dtype=torch.bool)
    assert revoked(verification, tracked, 0.9, torch.tensor([3])).tolist() == [[False, True, False, True]]
    assert revoked(verification, tracked, 0.9, torch.tensor([4])).tolist() == [[True, True, False, True]]
    assert revoked(verification, tracked, 0.9, torch.tensor([1])).tolist() == [[False] * 4]


def wino_denoiser():
    """Block of 4. Step 0 accepts 0 and 1; step 1 accepts 2 and 3 (they become sure once 0 is
    decoded). The verification view doubts token 1 at position 1 (p = 0.3) although the visible
    canvas is sure of it (0.99); once position 1 is masked again it doubts position 3 (0.1)."""

    def predict(canvas, call):
        decoded = canvas[0] != MASK
        return torch.stack([
            distribution({0: 0.95}),
            distribution({1: 0.99}),
            distribution({3: 0.7 if decoded else 0.3}),
            distribution({4: 0.65 if decoded else 0.2}),
        ])

    def mirror(canvas, call):
        return torch.stack([
            distribution({0: 0.95}),
            distribution({2: 0.6, 1: 0.3}),
            distribution({3: 0.95}),
            distribution({5: 0.8, 4: 0.1} if canvas[1] == MASK else {4: 0.95}),
        ])

    return TabledDenoiser(predict, mirror)


def test_wino_extended_canvas_revokes_what_the_verification_view_doubts():
    denoiser = wino_denoiser()
    result = run(denoiser, gen_length=4, sampler="wino")
    # step 1 accepts two tokens, so position 1 (verification p(1) = 0.3 < 0.9) is taken back;
    # step 2 accepts one token only: position 3, doubted now, is not revoked
    assert denoiser.canvases == [[M, M, M, M], [0, 1, M, M], [0, M, 3, 4]]
    assert result.tokens.tolist() == [[0, 1, 3, 4]] and result.nfe.tolist() == [3]
    # the masked positions only: committed ones are verified from the mirror (the whole block)
    assert denoiser.positions == [[0, 1, 2, 3], [2, 3], [1]]


def test_wino_plain_canvas_verifies_with_the_visible_tokens_confidence():
    denoiser = wino_denoiser()
    result = run(denoiser, gen_length=4, sampler="wino", wino_canvas="plain")
    assert denoiser.canvases == [[M, M, M, M], [0, 1, M, M]]  # 0.99 at the visible position 1: kept
    assert result.tokens.tolist() == [[0, 1, 3, 4]] and result.nfe.tolist() == [2]
    assert denoiser.positions == [[0, 1, 2, 3]] * 2  # every position of the block: committed ones are verified there


def test_wino_back_threshold_decides_the_revocation():
    denoiser = wino_denoiser()
    run(denoiser, gen_length=4, sampler="wino", wino_threshold_back=0.25)  # 0.3 is not below 0.25
    assert denoiser.canvases == [[M, M, M, M], [0, 1, M, M]]


# ---------------------------------------------------------------- EB-Sampler
def test_eb_takes_the_longest_prefix_whose_entropy_minus_its_largest_is_within_gamma():
    # score order: positions 4, 0, 2, 1, 3 (position 5 is not a candidate: -inf, as the samplers score it)
    scores = torch.tensor([[0.8, 0.6, 0.7, 0.5, 0.9, float("-inf")]])
    candidates = torch.tensor([[True, True, True, True, True, False]])
    # entropies in score order: 0.25, 0.5, 0.125, 1.0, 0.0625 -> spent 0, 0.25, 0.375, 0.875, 0.9375
    entropy = torch.tensor([[0.5, 1.0, 0.125, 0.0625, 0.25, 0.0]])
    chosen = lambda gamma: entropy_bounded(scores, candidates, entropy, gamma)[0].nonzero().squeeze(-1).tolist()
    assert chosen(0.0) == [4]
    assert chosen(0.25) == [0, 4]
    assert chosen(0.375) == [0, 2, 4]  # at most gamma: equality passes
    assert chosen(0.37) == [0, 4]
    assert chosen(0.9) == [0, 1, 2, 4]
    assert chosen(10.0) == [0, 1, 2, 3, 4]


def test_eb_commits_a_single_position_when_gamma_is_zero():
    scores = torch.tensor([[0.2, 0.1]])
    entropy = torch.tensor([[5.0, 5.0]])
    chosen = entropy_bounded(scores, torch.tensor([[True, True]]), entropy, 0.0)
    assert chosen.tolist() == [[True, False]]


@pytest.mark.parametrize("gamma, expected", [(0.7, [[0, 1, 2, 3], [4]]), (0.6, [[0, 1, 3], [2], [4]])])
def test_eb_sampler_in_the_loop(gamma, expected):
    # sure positions (entropy 0) and coin flips (entropy ln 2 = 0.693) between tokens 0 and 1
    sure, coin = {5: 1.0}, {0: 0.5, 1: 0.5}
    denoiser = TabledDenoiser(fixed([coin, sure, coin, sure, coin]))
    result = run(denoiser, gen_length=5, sampler="eb", eb_gamma=gamma)
    # confidence order: 1, 3 (p = 1), then 0, 2, 4; ln 2 + ln 2 - ln 2 = ln 2 fits 0.7, not 0.6
    assert commits(denoiser, result) == expected
    assert result.tokens.tolist() == [[0, 5, 0, 5, 0]]


# ---------------------------------------------------------------- PC-Sampler
def test_pc_score_is_position_decay_times_clamped_frequency_calibration():
    base = torch.tensor([[0.5, 0.5, 0.5]])
    frequencies = torch.tensor([math.exp(-4), math.exp(-2), math.exp(-30)])
    score = position_calibrated(base, torch.tensor([[0, 1, 2]]), torch.tensor([[0, 1, 2]]), frequencies, math.log(2), 10.0)
    # min(10, 0.5 * 4) * 1, min(10, 0.5 * 2) / 2, min(10, 0.5 * 20.7) / 4
    assert score.tolist() == [pytest.approx([2.0, 0.5, 2.5], rel=1e-5)]


@pytest.fixture
def frequency_table(tmp_path):
    """PC-Sampler's JSON format: token 0 frequent (f = 0.5), 2 common (0.1), 1 rare (0.001)."""
    path = tmp_path / "counts.json"
    path.write_text(json.dumps({"num_token": 1000, "p_baseline_dict": {"0": 500, "1": 1, "2": 100}}))
    return str(path)


@pytest.mark.parametrize(
    "lam, alpha, order",
    [
        (0.0, 10.0, [2, 1, 0]),  # 0.9 * -ln f: 0.62, 2.07, 6.22: the rarest token first
        (2.0, 10.0, [0, 1, 2]),  # x exp(-2i): 0.62, 0.28, 0.11: position wins
        (0.0, 1.0, [1, 2, 0]),  # clamped at 1: 0.62, 1, 1, ties to the lower position
    ],
)
def test_pc_sampler_orders_by_position_and_token_rarity(frequency_table, lam, alpha, order):
    denoiser = TabledDenoiser(fixed([{0: 0.9}, {2: 0.9}, {1: 0.9}]))
    result = run(denoiser, gen_length=3, k=1, sampler="pc", pc_frequencies=frequency_table, pc_lambda=lam, pc_alpha=alpha)
    assert commits(denoiser, result) == [[p] for p in order]


# ---------------------------------------------------------------- KLASS
def klass_denoiser():
    """Fixed predictions, except position 3, whose spare mass jumps between two shapes each call
    (KL about 0.14 and 1.5 between consecutive calls; 0 elsewhere)."""
    steady = [{0: 0.95}, {1: 0.93}, {2: 0.97}, None, {4: 0.3}, {5: 0.6}, {6: 0.91}]

    def predict(canvas, call):
        position_3 = {3: 0.92} if call % 2 == 0 else {3: 0.92, 4: 0.08}
        return torch.stack([distribution(position_3 if c is None else c) for c in steady])

    return TabledDenoiser(predict)


@pytest.mark.parametrize(
    "options, expected",
    [
        # steps 0 and 1 always fall back (KL against nothing); then 1 and 6 are sure and stable, 3 is not
        ({}, [[2], [0], [1, 6], [3], [5], [4]]),
        # a looser KL bound lets position 3 in
        ({"klass_kl_threshold": 2.0}, [[2], [0], [1, 3, 6], [5], [4]]),
        # three steps of history: the first commits of sure tokens wait for step 3
        ({"klass_kl_threshold": 2.0, "klass_kl_history": 3}, [[2], [0], [1], [3, 6], [5], [4]]),
        # confidence above 0.915 only: 6 (0.91) waits for the fallback
        ({"klass_kl_threshold": 2.0, "klass_conf_threshold": 0.915}, [[2], [0], [1, 3], [6], [5], [4]]),
    ],
)
def test_klass_commits_sure_and_stable_positions_else_falls_back_to_top_k(options, expected):
    denoiser = klass_denoiser()
    result = run(denoiser, gen_length=7, sampler="klass", **options)
    assert commits(denoiser, result) == expected
    assert result.nfe.tolist() == [len(expected)]


def test_klass_divergence_from_kept_logarithms_is_the_references_formula():
    """KLASS keeps log(p + eps) of the previous distributions; the divergence it computes from
    them is, bit for bit, sum q (log(q + eps) - log(p + eps)), the reference's."""
    generator = torch.Generator().manual_seed(0)
    current, previous = (torch.rand(3, 5, 40, generator=generator, dtype=torch.float64).softmax(-1) for _ in range(2))
    previous[0, 0] = 0  # what a position has before the block's first step
    expected = (current * (torch.log(current + EPSILON) - torch.log(previous + EPSILON))).sum(-1)
    assert torch.equal(kl_divergence(current, guarded_log(current), guarded_log(previous)), expected)


def test_klass_drift_bounds_how_far_a_divergence_below_it_moves_any_probability():
    """`peak_floor` rests on this: |q(a) - p(a)| <= drift(D) for the guarded divergence D from q to p,
    on random pairs, on the binary pairs where Pinsker's inequality is nearly tight, and with zeros in p."""
    generator = torch.Generator().manual_seed(0)
    pairs = [torch.rand(2, 200, 50, generator=generator, dtype=torch.float64).pow(8).softmax(-1) for _ in range(2)]
    for shift in (1e-4, 1e-3, 1e-2, 0.05, 0.2):  # (1/2 + e, 1/2 - e) against (1/2, 1/2), and sharper ones
        for top in (0.5, 0.9, 0.99):
            q = torch.tensor([[min(top + shift, 1.0), 1 - min(top + shift, 1.0)]], dtype=torch.float64)
            pairs.append(torch.stack([q, torch.tensor([[top, 1 - top]], dtype=torch.float64)]))
    sparse = torch.rand(2, 100, 50, generator=generator, dtype=torch.float64)
    sparse[1, :, 25:] = 0  # p gives no mass to half the tokens
    pairs.append(sparse / sparse.sum(-1, keepdim=True))
    for current, previous in pairs:
        divergence = kl_divergence(current, guarded_log(current), guarded_log(previous))
        moved = (current - previous).abs().amax(-1)
        bound = torch.tensor([drift(d, current.shape[-1]) for d in divergence.tolist()], dtype=torch.float64)
        assert (moved <= bound).all()
    # nearly tight: (0.51, 0.49) against (0.5, 0.5)
    current, previous = torch.tensor([0.51, 0.49], dtype=torch.float64), torch.tensor([0.5, 0.5], dtype=torch.float64)
    assert drift(kl_divergence(current, guarded_log(current), guarded_log(previous)).item(), 2) < 0.0105


def batch_denoiser(vocabulary: int = 40, seed: int = 0):
    """Rows of `vocabulary`-token predictions whose top token (0) grows surer at each call, from barely
    to very sure, plus noise: positions cross KLASS's default thresholds at different steps, from below
    the floor of `peak_floor` or above it, with divergences between calls near the default KL threshold
    (about 0.01 where the top probability is 0.85)."""
    generator = torch.Generator().manual_seed(seed)
    base = torch.randn(8, GEN, vocabulary, generator=generator, dtype=torch.float64)
    base[..., 0] += 3 + 5 * torch.rand(8, GEN, generator=generator, dtype=torch.float64)
    base[..., MASK] = float("-inf")
    calls = torch.zeros(8, dtype=torch.long)

    def denoise(canvas, rows, query):
        calls[rows] += 1
        noise = torch.randn(len(rows), GEN, vocabulary, generator=generator, dtype=torch.float64)
        logits = base[rows] + 0.01 * noise
        logits[..., 0] += 0.4 * calls[rows].unsqueeze(-1)
        return logits.float().gather(1, query.positions.unsqueeze(-1).expand(-1, -1, vocabulary))

    return denoise


@pytest.mark.parametrize("options", [{}, {"block_length": 8, "klass_kl_history": 3}, {"temperature": 1.0},
                                     {"klass_kl_threshold": 0.05, "klass_conf_threshold": 0.8}])
def test_klass_divergence_where_it_can_decide_gives_the_decisions_of_the_divergence_everywhere(options):
    """The positions `peak_floor` leaves out cannot be ready: decoding with every masked position's
    divergence computed (the reference's arithmetic) commits the same tokens at the same steps."""
    config = DecodingConfig.from_options(gen_length=GEN, sampler="klass", **options)
    results, left_out = {}, {False: 0, True: 0}
    for every in (False, True):
        sampler = SAMPLER_CLASSES["klass"](config, 8, MASK, "cpu")
        sampler.keep_every_distribution = every
        divergences = sampler.divergences

        def counted(step, probs, confidence, candidates, cells, divergences=divergences, every=every):
            value = divergences(step, probs, confidence, candidates, cells)
            left_out[every] += int((candidates & value.isinf()).sum()) if step.index > 0 else 0
            return value

        sampler.divergences = counted
        generators = [torch.Generator().manual_seed(row) for row in range(8)]
        results[every] = unmask(batch_denoiser(), 8, config, MASK, generator=generators, sampler=sampler)
    lazy, everywhere = results[False], results[True]
    assert torch.equal(lazy.tokens, everywhere.tokens)
    assert torch.equal(lazy.commit_steps, everywhere.commit_steps)
    assert torch.equal(lazy.nfe, everywhere.nfe)
    assert (lazy.nfe < GEN).any()  # ready positions were committed together
    assert left_out[False] > 0 and left_out[True] == 0  # where masked positions were left out


def test_klass_sums_a_lone_rows_divergence_as_the_reference_sums_its_whole_sequence():
    """Over a real vocabulary torch splits a single row's sum between threads: a lone kept position is
    summed as one of two rows, in the order of the reference's [sequence, vocabulary] sum."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        generator = torch.Generator().manual_seed(0)
        current, previous = (torch.rand(6, 126_464, generator=generator, dtype=torch.float64).pow(4).softmax(-1)
                             for _ in range(2))
        whole = kl_divergence(current, guarded_log(current), guarded_log(previous))
        for row in range(6):
            rows = rows_summed_apart(torch.tensor([row]))
            lone = kl_divergence(current[rows], guarded_log(current[rows]), guarded_log(previous[rows]))
            assert lone.tolist() == [whole[row].item()] * 2
    finally:
        torch.set_num_threads(threads)


def test_klass_leaves_masks_when_its_step_budget_runs_out():
    # distinct confidences: equal ones leave the softmax a last bit apart, by token id and by CPU
    denoiser = TabledDenoiser(fixed([{0: 0.95}, {1: 0.5}, {2: 0.45}, {3: 0.4}, {4: 0.35}, {5: 0.3}]))
    # 2 steps of 3 tokens; with no KL gate to speak of, step 0 commits its one ready token only
    result = run(denoiser, gen_length=6, sampler="klass", steps=2, klass_kl_history=1, klass_kl_threshold=100)
    assert commits(denoiser, result) == [[0], [1, 2, 3]]
    assert result.tokens.tolist() == [[0, 1, 2, 3, M, M]]


def compat_run(denoiser, family, prompt_length=None, **options):
    config = DecodingConfig.from_options(compat="parallelbench", **options).with_family_defaults(family)
    return unmask(denoiser, 1, config, MASK, prompt_lengths=None if prompt_length is None else [prompt_length])


def test_klass_compat_on_dream_is_ready_at_the_threshold_itself():
    # position 0's confidence is the threshold exactly: klass_sample.py's `>=` commits it with position 1
    logits = distribution({0: 0.9})
    threshold = torch.softmax(logits, -1)[0].item()
    table = torch.stack([logits, distribution({1: 0.95}), distribution({2: 0.5})])
    options = dict(gen_length=3, sampler="klass", klass_kl_history=1, klass_kl_threshold=100,
                   klass_conf_threshold=threshold)
    denoiser = TabledDenoiser(lambda canvas, call: table)
    assert commits(denoiser, compat_run(denoiser, "dream", **options)) == [[0, 1], [2]]
    denoiser = TabledDenoiser(lambda canvas, call: table)
    assert commits(denoiser, run(denoiser, **options)) == [[1], [0], [2]]  # ours: strictly above


def test_klass_compat_on_dream_falls_back_to_one_token_whatever_the_schedule():
    denoiser = TabledDenoiser(fixed([{0: 0.5}, {1: 0.45}, {2: 0.4}, {3: 0.35}]))
    result = compat_run(denoiser, "dream", gen_length=4, sampler="klass", k=2, klass_conf_threshold=0.99)
    assert commits(denoiser, result) == [[0], [1]]  # the budget is 2 steps of k = 2; one token each
    assert result.tokens.tolist() == [[0, 1, M, M]]


def shifting_denoiser(length: int):
    """Position i predicts token i at the first call and (i + 1) % 7 after it, all sure enough to be ready
    at once except the last position, so that a prediction written over a decoded token shows."""
    def predict(canvas, call):
        sure = [distribution({(i + min(call, 1)) % MASK: 0.95}) for i in range(length - 1)]
        return torch.stack([*sure, distribution({(length - 1) % MASK: 0.5})])

    return TabledDenoiser(predict)


@pytest.mark.parametrize("prompt_length", [3, 10])
def test_klass_compat_on_llada_writes_the_references_picks_beyond_the_masks_left(caplog, prompt_length):
    # 6 tokens in 2 steps of 3: step 0 commits the 5 ready positions, step 1's fallback quota of 3
    # exceeds the one mask left, so klass_generate.py's torch.topk also picks two -inf entries of its
    # prompt + canvas vector and writes the model's predictions there (a pick in the prompt is not
    # reproduced: a warning says so)
    quota = 3
    vector = torch.full((prompt_length + 6,), float("-inf"), dtype=torch.float64)
    vector[prompt_length + 5] = torch.softmax(distribution({5: 0.5}), -1)[5]
    picks = (torch.topk(vector, quota).indices - prompt_length).tolist()
    decoded_picks = sorted(p for p in picks if 0 <= p < 5)
    assert decoded_picks  # this torch picks decoded positions of the canvas here (3: 1 and 2; 10: 1)
    denoiser = shifting_denoiser(6)
    result = compat_run(denoiser, "llada", prompt_length, gen_length=6, sampler="klass", steps=2,
                        klass_kl_history=1, klass_kl_threshold=100, klass_conf_threshold=0.9)
    assert denoiser.positions[1][:6] == list(range(6))  # the whole canvas was predicted at step 1
    assert result.tokens.tolist() == [[(i + 1) % MASK if i in decoded_picks else i for i in range(6)]]
    assert ("rewrite prompt position" in caplog.text) == any(p < 0 for p in picks)
    plain = run(shifting_denoiser(6), gen_length=6, sampler="klass", steps=2, klass_kl_history=1,
                klass_kl_threshold=100, klass_conf_threshold=0.9)
    assert plain.tokens.tolist() == [[0, 1, 2, 3, 4, 5]]  # ours: only the mask left is committed


# ---------------------------------------------------------------- DUS
@pytest.mark.parametrize(
    "length, base, levels",
    [
        (8, 2, [[0, 4], [2, 6], [1, 3, 5, 7]]),
        (16, 2, [[0, 8], [4, 12], [2, 6, 10, 14], [1, 3, 5, 7, 9, 11, 13, 15]]),
        (4, 2, [[0, 2], [1, 3]]),
        (2, 2, [[0, 1]]),
        (1, 2, [[0]]),
        (5, 2, [[0, 2, 4, 1, 3]]),  # the last group (2) is smaller than the one before (3): merged
        (9, 3, [[0, 3, 6], [1, 2, 4, 5, 7, 8]]),
        (8, 4, [[0, 2, 4, 6], [1, 3, 5, 7]]),
        (6, 1, [[0, 1, 2, 3, 4, 5]]),
    ],
)
def test_dus_dilated_levels(length, base, levels):
    assert dilated_levels(length, base) == levels


@pytest.mark.parametrize("base", [2, 3, 4])
def test_dus_levels_cover_every_offset_of_any_block_once(base):
    for length in range(1, 70):
        levels = dilated_levels(length, base)
        assert sorted(offset for level in levels for offset in level) == list(range(length)), (length, levels)


DUS_CONFIDENCE = [0.5, 0.9, 0.35, 0.16, 0.2, 0.4, 0.25, 0.15]  # position i proposes token i % 7


@pytest.mark.parametrize(
    "options, positions, holes",
    [
        # below 0.3 on an early level (4, 6): masked again, never revisited; the last level keeps all
        ({}, [[0, 4], [2, 6], [1, 3, 5, 7]], [4, 6]),
        ({"dus_remasking_threshold": 0.0}, [[0, 4], [2, 6], [1, 3, 5, 7]], []),
        ({"dus_remasking_threshold": 0.45}, [[0, 4], [2, 6], [1, 3, 5, 7]], [2, 4, 6]),
        ({"dus_base": 4}, [[0, 2, 4, 6], [1, 3, 5, 7]], [4, 6]),
        ({"block_length": 4}, [[0, 2], [1, 3], [4, 6], [5, 7]], [4, 6]),
    ],
)
def test_dus_decodes_each_level_in_one_pass_and_leaves_doubtful_early_tokens_masked(options, positions, holes):
    denoiser = TabledDenoiser(fixed([{i % 7: c} for i, c in enumerate(DUS_CONFIDENCE)]))
    result = run(denoiser, gen_length=8, sampler="dus", **options)
    assert denoiser.positions == positions
    assert result.nfe.tolist() == [len(positions)]
    assert [i for i, token in enumerate(result.tokens[0].tolist()) if token == MASK] == holes


# ---------------------------------------------------------------- SlowFast
def test_slowfast_fills_at_or_above_high_when_two_pass_else_the_best_of_the_scope():
    confidence = torch.tensor([[0.95, 0.9, 0.5, 0.99]])
    scope = torch.tensor([[True, True, True, False]])
    assert filled(confidence, scope, 0.9).tolist() == [[True, True, False, False]]
    assert filled(confidence, scope, 0.92).tolist() == [[True, False, False, False]]
    assert filled(confidence, torch.tensor([[False, False, True, False]]), 0.9).tolist() == [[False, False, True, False]]


def test_slowfast_sub_cycles_explore_then_fill_their_region():
    # reaching the cycle threshold 0.3: positions 1 and 5
    confidence = [0.20, 0.35, 0.17, 0.25, 0.16, 0.60, 0.28, 0.15]
    denoiser = TabledDenoiser(fixed([{i % 7: c} for i, c in enumerate(confidence)]))
    result = run(denoiser, gen_length=8, sampler="slowfast", sf_exploration_steps=2)
    # cycle 1, slow: estimates 6 (farthest reaching 5) then 2 (5 is filled): no agreement, the
    # cycle ends at (6 + 2) // 2 = 4. Fast: 3, 0, 2 in that region, although 6 (0.28) beats 0 and 2.
    # cycle 2 from 4, slow: estimates 5 and 5 agree (fills 6, 4 from the whole block); region [4, 5)
    # is full. Cycle 3 from 5: fills 7 and the block is full after one of its two slow passes.
    assert commits(denoiser, result) == [[5], [1], [3], [0], [2], [6], [4], [7]]
    assert len(denoiser.canvases) == 8
    assert result.nfe.tolist() == [9]  # the slow pass left over is counted, not run


@pytest.mark.parametrize("exploration", [6, 3])
def test_slowfast_counts_every_slow_pass_when_the_first_fills_the_block(exploration):
    denoiser = TabledDenoiser(fixed([{i % 7: 0.95} for i in range(8)]))
    result = run(denoiser, gen_length=8, sampler="slowfast", sf_exploration_steps=exploration)
    assert commits(denoiser, result) == [list(range(8))]
    assert result.nfe.tolist() == [exploration]


# ---------------------------------------------------------------- RCR
@pytest.mark.parametrize(
    "tokens, steps, counts",
    [(6, 4, (2, 1, 2, 1)), (8, 8, (1,) * 8), (4, 2, (2, 2)), (5, 3, (2, 2, 1)), (3, 1, (3,))],
)
def test_rcr_linear_maskgit_schedule(tokens, steps, counts):
    assert maskgit_linear_counts(tokens, steps) == counts


def test_rcr_remasks_the_lowest_stored_confidences_anywhere_in_the_canvas():
    denoiser = TabledDenoiser(fixed([{0: 0.9}, {1: 0.2}, {2: 0.5}, {3: 0.3}]))
    result = run(denoiser, gen_length=4, block_length=2, steps=4, sampler="rcr")
    # block 0: fill 0, 1, take back 1 (0.2); refill 1. Block 1: fill 2, 3 and take back the
    # lowest of the canvas: 1, from the block before; refill it.
    assert denoiser.canvases == [[M, M, M, M], [0, M, M, M], [0, 1, M, M], [0, M, 2, 3]]
    assert denoiser.positions == [[0, 1], [1], [2, 3], [1]]
    assert result.tokens.tolist() == [[0, 1, 2, 3]] and result.nfe.tolist() == [4]


# ---------------------------------------------------------------- ReMDM
@pytest.mark.parametrize(
    "steps, revisions, block_length, plan",
    [
        (8, 1, 8, (False,) * 7 + (True, False)),  # int(7/8 * 8) = 7
        (4, 2, 8, (False,) * 4 + (True, True)),  # past the end of a shorter plan: last
        (1, 1, 1, (False, True)),  # at least 1
        (4, 1, 4, (False, False, False, True, False)),  # at most block_length - 1
        (6, 0, 6, (False,) * 6),
    ],
)
def test_remdm_revision_plan(steps, revisions, block_length, plan):
    assert revision_plan(steps, revisions, block_length) == plan


REMDM_CALLS = [  # confidence at each position, per call; position i proposes token i
    [0.5, 0.3, 0.2, 0.25],
    [0.2, 0.9, 0.2, 0.25],
    [0.2, 0.2, 0.95, 0.25],
    [0.8, 0.2, 0.2, 0.25],
    [0.2, 0.2, 0.2, 0.25],
]


def remdm_denoiser():
    tables = [torch.stack([distribution({i: c}) for i, c in enumerate(row)]) for row in REMDM_CALLS]
    return TabledDenoiser(lambda canvas, call: tables[call])


def test_remdm_takes_back_the_least_confident_committed_token_then_refills():
    denoiser = remdm_denoiser()
    result = run(denoiser, gen_length=4, sampler="remdm")
    # one token per step; after 3 of 4 steps (int(7/8 * 4) = 3) a revision: position 0, committed
    # at 0.5 (below 0.9 and 0.95), is masked again, and the revision step commits one token
    assert denoiser.canvases == [[M, M, M, M], [0, M, M, M], [0, 1, M, M], [M, 1, 2, M], [0, 1, 2, M]]
    assert result.tokens.tolist() == [[0, 1, 2, 3]] and result.nfe.tolist() == [5]


def test_remdm_without_revision_steps_is_the_top_k_schedule():
    denoiser = remdm_denoiser()
    result = run(denoiser, gen_length=4, sampler="remdm", remdm_steps=0)
    assert denoiser.canvases == [[M, M, M, M], [0, M, M, M], [0, 1, M, M], [0, 1, 2, M]]
    assert result.nfe.tolist() == [4]


# ---------------------------------------------------------------- schedules of the samplers
@pytest.mark.parametrize(
    "options, counts",
    [
        ({"sampler": "klass"}, (1,) * 8),  # one token per step unless k/steps say otherwise
        ({"sampler": "klass", "k": 3}, (3, 3, 2)),
        ({"sampler": "remdm", "steps": 2}, (4, 4)),
        ({"sampler": "pc", "k": 2, "pc_frequencies": "uniform"}, (2, 2, 2, 2)),
        ({"sampler": "rcr"}, (1,) * 8),
        ({"sampler": "eb"}, None),  # adaptive: decided step by step
        ({"sampler": "wino"}, None),
        ({"sampler": "slowfast"}, None),
        ({"sampler": "dus"}, None),  # its own plan (dilated levels)
    ],
)
def test_step_counts_of_each_sampler(options, counts):
    (block,) = block_schedule(DecodingConfig.from_options(gen_length=8, **options))
    assert block.step_counts == counts


def test_rcr_steps_are_split_over_blocks():
    config = DecodingConfig.from_options(gen_length=16, block_length=8, steps=8, sampler="rcr")
    assert config.steps_per_block() == 4


# ================================================================ 2. batch invariance on the stand-ins
FAMILIES = {
    "masked_lm": ("tiny_masked_lm_dir", {}),
    "dream": ("tiny_dream_dir", {"family": "dream"}),
    "llada": ("tiny_llada_dir", {"trust_remote_code": True}),
}
ADAPTIVE = ("eb", "wino", "slowfast", "klass")


@pytest.fixture(scope="module")
def decoder(request):
    """decoder(family): a `dllm` model on that stand-in, loaded once per module."""
    loaded = {}

    def get(family):
        if family not in loaded:
            fixture, args = FAMILIES[family]
            loaded[family] = DiffusionLM(pretrained=str(request.getfixturevalue(fixture)), device="cpu", **args)
        return loaded[family]

    return get


def decoded(decoder, family, batch_size, **options):
    lm = decoder(family)
    lm.batch_size = batch_size  # the same loaded model, batched differently
    outputs = lm.generate_until(requests(**options), disable_tqdm=True)
    return list(outputs), [o.stats["nfe"] for o in outputs]


def assert_batch_invariant(decoder, family, options):
    alone, alone_nfe = decoded(decoder, family, 1, **options)
    batched, batched_nfe = decoded(decoder, family, 8, **options)
    assert alone == batched
    assert alone_nfe == batched_nfe
    return batched_nfe


# the sharpened LLaDA stand-in: thresholds as in real use
SHARP = [
    {"sampler": "eb", "eb_gamma": 0.5},
    {"sampler": "eb", "unmasking": "entropy", "eb_gamma": 2.0, "block_length": 8},
    {"sampler": "pc", "unmasking": "random", "steps": 8, "block_length": 8, "temperature": 1.0},
    {"sampler": "wino"},
    {"sampler": "wino", "wino_canvas": "plain", "wino_threshold": 0.3, "block_length": 8},
    {"sampler": "slowfast", "sf_exploration_steps": 2},
    {"sampler": "slowfast", "sf_high_confidence_threshold": 0.5, "block_length": 8},
    {"sampler": "klass", "klass_conf_threshold": 0.3, "klass_kl_threshold": 0.5},
    {"sampler": "klass"},  # the defaults: divergences only at masked positions above `peak_floor`
    {"sampler": "klass", "k": 2, "block_length": 8, "klass_conf_threshold": 0.5, "klass_kl_history": 3},
    {"sampler": "dus", "block_length": 8},
    {"sampler": "dus", "dus_base": 3, "dus_remasking_threshold": 0.5},
    {"sampler": "rcr", "steps": 8, "block_length": 8},
    {"sampler": "remdm", "k": 2, "remdm_steps": 2},
    {"sampler": "remdm", "block_length": 8, "remdm_number": 2},
]
# the nearly uniform BERT and Dream stand-ins: thresholds among their top probabilities
FLAT = [
    {"sampler": "eb", "eb_gamma": 21.0},  # two entropies of about ln(30522) = 10.3 nats
    {"sampler": "pc", "pc_frequencies": "uniform", "k": 2},
    {"sampler": "wino", "wino_threshold": 0.005, "wino_threshold_back": 0.005, "block_length": 8},
    {"sampler": "slowfast", "sf_exploration_steps": 2, "sf_cycle_confidence_threshold": 0.005,
     "sf_high_confidence_threshold": 0.005},
    {"sampler": "klass", "klass_conf_threshold": 0.004, "klass_kl_threshold": 1.0},
    {"sampler": "dus", "dus_remasking_threshold": 0.005},
    {"sampler": "rcr", "steps": 8, "block_length": 8},
    {"sampler": "remdm", "k": 2},
]
SAMPLER_CASES = [("llada", o) for o in SHARP] + [(f, o) for f in ("masked_lm", "dream") for o in FLAT]


@pytest.mark.parametrize("family, options", SAMPLER_CASES, ids=[f"{f}-{json.dumps(o)}" for f, o in SAMPLER_CASES])
def test_samplers_decode_the_same_alone_and_in_a_batch(decoder, family, options):
    nfe = assert_batch_invariant(decoder, family, options)
    if options["sampler"] in ADAPTIVE:  # the options reach the model's confidences: some step commits several tokens
        assert min(nfe) < GEN


# ================================================================ 2b. key/value caches
CACHE_CASES = [
    ("llada", {"cache": "prefix", "k": 2, "block_length": 8}),
    ("llada", {"cache": "dual", "k": 2, "block_length": 4}),
    ("llada", {"cache": "prefix", "threshold": 0.3, "block_length": 8}),  # blocks finish early, rows at different steps
    ("llada", {"cache": "dual", "cache_refresh": 2, "threshold": 0.3, "block_length": 8}),
    # the samplers ask for different positions: the whole block and its verification copies (wino),
    # dilated levels (dus), masked positions of rows that finish or idle at different steps (klass, slowfast)
    ("llada", {"cache": "dual", "sampler": "wino", "block_length": 8}),
    ("llada", {"cache": "prefix", "sampler": "dus", "block_length": 8}),
    ("llada", {"cache": "dual", "sampler": "klass", "klass_conf_threshold": 0.3, "klass_kl_threshold": 0.5, "block_length": 8}),
    ("llada", {"cache": "prefix", "sampler": "slowfast", "sf_exploration_steps": 2, "block_length": 8}),
    ("dream", {"cache": "prefix", "k": 2, "block_length": 8}),
    ("dream", {"cache": "dual", "threshold": 0.005, "block_length": 4}),
    ("dream", {"cache": "dual", "sampler": "wino", "wino_threshold": 0.005, "wino_threshold_back": 0.005, "block_length": 8}),
]


@pytest.mark.parametrize("family, options", CACHE_CASES, ids=[f"{f}-{json.dumps(o)}" for f, o in CACHE_CASES])
def test_cached_decoding_is_the_same_alone_and_in_a_batch(decoder, family, options):
    nfe = assert_batch_invariant(decoder, family, options)
    if "threshold" in options:
        assert min(nfe) < GEN


REFRESH_CASES = [
    ("llada", "prefix", {"threshold": 0.3, "block_length": 8}),
    ("llada", "dual", {"sampler": "wino", "block_length": 8}),
    ("dream", "dual", {"k": 2, "block_length": 4}),
    ("dream", "prefix", {"sampler": "wino", "wino_threshold": 0.005, "wino_threshold_back": 0.005, "block_length": 8}),
]


@pytest.mark.parametrize("family, mode, options", REFRESH_CASES, ids=[f"{f}-{m}-{json.dumps(o)}" for f, m, o in REFRESH_CASES])
def test_refreshing_the_cache_every_step_is_exact(decoder, family, mode, options):
    plain, plain_nfe = decoded(decoder, family, 8, **options)
    cached, cached_nfe = decoded(decoder, family, 8, cache=mode, cache_refresh=1, **options)
    assert cached == plain
    assert cached_nfe == plain_nfe


class RecordingForward:
    """Wraps a model forward and records how many tokens each pass runs and whether it reads a cache."""

    def __init__(self, forward):
        self.forward, self.shift, self.caches = forward, forward.shift, forward.caches
        self.passes = []

    def __call__(self, ids, positions, keys, hidden_at, structure=None, cache=None, slot=None, keep=0, workspace=None):
        self.passes.append((ids.shape[1], cache is not None))
        return self.forward(ids, positions, keys, hidden_at, structure, cache=cache, slot=slot, keep=keep,
                            workspace=workspace)


@pytest.mark.parametrize(
    "family, mode, refresh, widths",
    [
        # prompt of P tokens, 8 to generate in blocks of 4, 2 tokens per step: full pass at each block start
        ("llada", "prefix", 0, lambda p: [(p + 8, False), (8, True), (p + 8, False), (4, True)]),
        ("llada", "dual", 0, lambda p: [(p + 8, False), (4, True), (p + 8, False), (4, True)]),
        ("dream", "dual", 0, lambda p: [(p + 8, False), (5, True), (p + 8, False), (5, True)]),  # + the token before
        ("dream", "prefix", 0, lambda p: [(p + 8, False), (9, True), (p + 8, False), (5, True)]),
        ("llada", "dual", 1, lambda p: [(p + 8, False)] * 4),
    ],
)
def test_cached_steps_run_only_the_block_and_what_follows_it(decoder, monkeypatch, family, mode, refresh, widths):
    backend = decoder(family).backend
    recording = RecordingForward(backend.forward)
    monkeypatch.setattr(backend, "_forward", recording)
    prompt = backend.encode(PROMPTS[0], 8)
    config = DecodingConfig.from_options(gen_length=8, k=2, block_length=4, cache=mode, cache_refresh=refresh)
    backend.decode([prompt], config)
    assert recording.passes == widths(len(prompt))


def test_a_cached_step_attends_to_the_cache_with_its_own_keys_in_the_slot():
    """`KeyValues.spliced` on hand-made tensors: the stepping rows' keys and values in the slot are
    the step's own, tokens beyond the slot (WINO's copies) come after, and the cache's other rows
    keep theirs; when every row steps, the step attends to the cache itself, its slot overwritten."""
    keys = torch.arange(3 * 6, dtype=torch.float).view(3, 1, 6, 1)
    cache = KeyValues([keys.clone()], [-keys.clone()])
    new = torch.tensor([100.0, 101.0, 300.0]).view(1, 1, 3, 1).repeat(2, 1, 1, 1)  # two in the slot, one beyond
    rows = torch.tensor([0, 2])
    step_keys, step_values = cache.for_rows(rows).spliced(0, new, -new, (2, 4))
    expected = torch.cat([keys[rows, :, :2], new[:, :, :2], keys[rows, :, 4:], new[:, :, 2:]], dim=2)
    assert torch.equal(step_keys, expected) and torch.equal(step_values, -expected)
    assert torch.equal(cache.keys[0], keys) and torch.equal(cache.values[0], -keys)  # a subset steps on a copy
    in_slot = new[:1, :, :2].expand(3, -1, -1, -1)
    every_row_keys, _ = cache.for_rows(None).spliced(0, in_slot, -in_slot, (3, 5))
    assert every_row_keys.data_ptr() == cache.keys[0].data_ptr()  # no copy of the cache
    assert every_row_keys[:, 0, 3:5, 0].tolist() == [[100.0, 101.0]] * 3
    assert torch.equal(every_row_keys[1, :, :3], keys[1, :, :3]) and torch.equal(every_row_keys[1, :, 5:], keys[1, :, 5:])


# ================================================================ 3. bad options, refused before any weight loads
REFUSED = [
    ({"sampler": "beam"}, "unknown sampler 'beam'; allowed: standard, eb, pc, wino, slowfast, klass, dus, rcr, remdm, edit"),
    ({"sampler": "wino", "wino_threshold": 1.5}, "wino_threshold must lie in [0, 1], got 1.5"),
    ({"sampler": "wino", "wino_threshold_back": -0.1}, "wino_threshold_back must lie in [0, 1], got -0.1"),
    ({"sampler": "wino", "wino_canvas": "foo"}, "unknown wino_canvas 'foo'; allowed: extended, plain"),
    ({"sampler": "klass", "klass_conf_threshold": 2}, "klass_conf_threshold must lie in [0, 1], got 2.0"),
    ({"sampler": "klass", "klass_kl_threshold": -1}, "klass_kl_threshold must be >= 0, got -1.0"),
    ({"sampler": "klass", "klass_kl_history": 0}, "klass_kl_history must be an integer >= 1, got 0"),
    ({"sampler": "klass", "klass_kl_history": "two"}, "klass_kl_history must be an integer, got 'two'"),
    ({"sampler": "slowfast", "sf_exploration_steps": 0}, "sf_exploration_steps must be an integer >= 1, got 0"),
    ({"sampler": "slowfast", "sf_high_confidence_threshold": 1.2}, "sf_high_confidence_threshold must lie in [0, 1], got 1.2"),
    ({"sampler": "dus", "dus_base": 1}, "dus_base must be an integer >= 2, got 1"),
    ({"sampler": "dus", "dus_remasking_threshold": 3}, "dus_remasking_threshold must lie in [0, 1], got 3.0"),
    ({"sampler": "remdm", "remdm_steps": -1}, "remdm_steps must be an integer >= 0, got -1"),
    ({"sampler": "remdm", "remdm_number": 0}, "remdm_number must be an integer >= 1, got 0"),
    ({"sampler": "eb", "eb_gamma": -0.5}, "eb_gamma must be >= 0, got -0.5"),
    ({"sampler": "pc", "pc_alpha": 0}, "pc_alpha must be positive, got 0.0"),
    ({"sampler": "pc", "pc_lambda": -1}, "pc_lambda must be >= 0, got -1.0"),
    ({"sampler": "wino", "k": 2}, "sampler=wino decides how many tokens each step commits; drop k/steps"),
    ({"sampler": "klass", "threshold": 0.9}, "sampler=klass has its own selection rule; drop threshold/factor"),
    ({"sampler": "wino", "unmasking": "margin"}, "sampler=wino orders positions by confidence; got unmasking=margin"),
    ({"sampler": "pc", "unmasking": "entropy"}, "sampler=pc orders positions by confidence or random; got unmasking=entropy"),
    ({"cache": "full"}, "unknown cache 'full'; allowed: none, prefix, dual"),
    ({"cache": "dual", "cache_refresh": -1}, "cache_refresh must be >= 0 (0: at block boundaries only), got -1"),
    ({"cache_refresh": 2}, "cache_refresh applies to cache=prefix or cache=dual"),
    ({"cache": "prefix", "sampler": "rcr"}, "sampler=rcr changes tokens outside the current block: use cache=none"),
]


@pytest.mark.parametrize("options, message", REFUSED, ids=[json.dumps(o) for o, _ in REFUSED])
def test_bad_sampler_and_cache_options_are_refused_before_the_model_is_read(options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        DecodingConfig.from_options(gen_length=16, **options)
    with pytest.raises(ValueError, match=re.escape(message)):  # as --model_args: before the folder is even looked at
        DiffusionLM(pretrained="/nonexistent/model/dir", device="cpu", **options)


@pytest.mark.parametrize("options, message", [
    ({"sampler": "wino", "klass_kl_threshold": 0.1}, "klass_kl_threshold is an option of sampler=klass, not of sampler=wino"),
    ({"wino_threshold": 0.5}, "wino_threshold is an option of sampler=wino, not of sampler=standard"),
])
def test_an_option_of_another_sampler_is_refused_in_a_configuration_and_a_default_in_model_args(options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        DecodingConfig.from_options(gen_length=16, **options)
    lm = DiffusionLM(pretrained="ideal", device="cpu", **options)  # for the requests that run that sampler
    assert lm.request_config({"max_gen_toks": 16})[0].parameters == ()
    other = next(name for name in options if name != "sampler")
    sampler = {"klass_kl_threshold": "klass", "wino_threshold": "wino"}[other]
    config = lm.request_config({"max_gen_toks": 16, "sampler": sampler})[0]
    assert config.value(other) == options[other]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"cache": "prefix"}, "cache=prefix runs LLaDA's, LLaDA-MoE's or Dream's layers with kept keys and values; "
                              "this model is of family 'masked_lm' (allowed with cache: llada, llada_moe, dream)"),
        ({"cache": "dual", "sampler": "wino"}, "cache=dual runs LLaDA's, LLaDA-MoE's or Dream's layers"),
        ({"sampler": "pc"}, "sampler=pc needs pc_frequencies: llada, dream, uniform or a JSON file of token counts"),
        ({"sampler": "pc", "pc_frequencies": "zipf"}, "pc_frequencies='zipf' is neither a file nor a known table; "
                                                      "allowed: llada, dream, uniform or a path"),
    ],
)
def test_options_that_depend_on_the_model_are_refused_before_its_weights_load(tiny_masked_lm_dir, no_weights, options, message):
    lm = DiffusionLM(pretrained=str(tiny_masked_lm_dir), device="cpu")
    with pytest.raises(ValueError, match=re.escape(message)):
        lm.generate_until(requests(PROMPTS[:2], **options), disable_tqdm=True)


def test_dream_top_k_decodes_on_the_benchmarks_schedule_by_default(decoder, monkeypatch):
    """Dream's family default: the benchmark's float32 step counts, with the step that commits
    nothing counted in the NFE (as the reference's forward pass) but not run."""
    lm = decoder("dream")
    recording = RecordingForward(lm.backend.forward)
    monkeypatch.setattr(lm.backend, "_forward", recording)
    prompt = lm.backend.encode(PROMPTS[0], 32)
    config, _, _ = lm.request_config({"max_gen_toks": 32, "k": 1})
    assert config.schedule == "dream"
    assert lm.backend.decode([prompt], config).nfe.tolist() == [32]
    assert len(recording.passes) == 31
    even, _, _ = lm.request_config({"max_gen_toks": 32, "k": 1, "schedule": "even"})
    recording.passes.clear()
    assert lm.backend.decode([prompt], even).nfe.tolist() == [32] and len(recording.passes) == 32
    assert decoder("llada").request_config({"max_gen_toks": 32, "k": 1})[0].schedule == "even"


@pytest.mark.parametrize("options", [{"k": 1}, {"k": 2, "block_length": 8}, {"unmasking": "margin", "k": 4}])
def test_dream_schedule_is_batch_invariant(decoder, options):
    # the Dream family's default schedule (uneven counts, idle steps) at batch 1 and 8
    nfe = assert_batch_invariant(decoder, "dream", options)
    blocks = block_schedule(DecodingConfig.from_options(gen_length=GEN, schedule="dream", **options))
    assert set(nfe) == {sum(len(block.step_counts) + block.idle_steps for block in blocks)}


@pytest.mark.parametrize("family, options", [
    ("llada", {"threshold": 0.5, "temperature": 1.0}),
    ("llada", {"unmasking": "random", "threshold": 0.5, "block_length": 8}),
    ("llada", {"sampler": "eb", "eb_gamma": 0.5, "temperature": 0.7}),
    ("llada", {"sampler": "klass", "klass_conf_threshold": 0.3, "klass_kl_threshold": 0.5, "temperature": 1.0}),
    ("dream", {"threshold": 0.005, "temperature": 1.0}),
])
def test_sampling_with_adaptive_rules_is_batch_invariant(decoder, family, options):
    # adaptive rules pad every row to the batch's most masks; a row draws for its own masks only
    assert_batch_invariant(decoder, family, options)
