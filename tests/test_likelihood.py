"""loglikelihood and loglikelihood_rolling of `dllm`: LLaDA's Monte-Carlo ELBO estimate.

Exact checks use models whose answer is known: a uniform model (every masked token costs
log V, so every draw gives exactly -L log V) and a certain one (logits that put all the
mass on the true token, so every draw gives 0). Equality with LLaDA's own
get_log_likelihood.py is shown by benchmarks/likelihood_equivalence.py (it needs the
reference's file, which is not part of this project).
"""

import math
from types import SimpleNamespace

import pytest
import torch

from parallelbench_lmeval.likelihood import log_likelihood, masked_answer_positions, masking_counts
from parallelbench_lmeval.models.dllm import DiffusionLM

VOCAB = 50


def uniform_logits(ids, positions):
    return torch.zeros(*positions.shape, VOCAB)


def certain_logits(answer_by_position):
    def logits(ids, positions):
        out = torch.full((*positions.shape, VOCAB), -1e4)
        targets = answer_by_position[positions]
        return out.scatter(-1, targets.unsqueeze(-1), 0.0)

    return logits


@pytest.mark.parametrize("length, rows", [(1, 1), (1, 4), (5, 2), (7, 16), (32, 8), (3, 2)])
def test_masking_counts_are_stratified_and_never_empty(length, rows):
    generator = torch.Generator().manual_seed(length * 100 + rows)
    for _ in range(20):
        counts = masking_counts(length, rows, generator)
        assert counts.shape == (rows,) and counts.min() >= 1 and counts.max() <= length
        # one draw k spreads the rows evenly around the circle 1..L: consecutive counts differ by about L/rows
        if rows > 1 and length >= rows:
            steps = (counts.roll(-1) - counts) % length
            assert set(steps[:-1].tolist()) <= {math.floor(length / rows), math.ceil(length / rows)}


def test_each_row_masks_exactly_its_count():
    generator = torch.Generator().manual_seed(0)
    counts = torch.tensor([1, 4, 7, 3])
    masked = masked_answer_positions(counts, 7, generator)
    assert masked.sum(1).tolist() == [1, 4, 7, 3]
    # the positions differ between rows: each row draws its own permutation
    assert len({tuple(row.tolist()) for row in masked_answer_positions(torch.full((8,), 3), 7, generator)}) > 1


@pytest.mark.parametrize("mc_num, mc_batch, cfg_scale", [(8, 4, 0.0), (6, 6, 0.0), (4, 1, 0.0), (8, 2, 1.5)])
def test_a_uniform_model_costs_log_v_per_answer_token(mc_num, mc_batch, cfg_scale):
    prompt, answer = torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6, 7, 8])
    estimate = log_likelihood(uniform_logits, prompt, answer, mc_num, mc_batch, 49, torch.Generator().manual_seed(1), cfg_scale)
    assert estimate == pytest.approx(-5 * math.log(VOCAB), rel=1e-6)


def test_a_certain_model_costs_nothing():
    prompt, answer = torch.tensor([1, 2]), torch.tensor([9, 8, 7])
    truth = torch.cat([prompt, answer])
    estimate = log_likelihood(certain_logits(truth), prompt, answer, 16, 4, 49, torch.Generator().manual_seed(0))
    assert estimate == pytest.approx(0.0, abs=1e-6)


def test_an_empty_answer_has_probability_one():
    assert log_likelihood(uniform_logits, torch.tensor([1]), torch.tensor([], dtype=torch.long), 4, 2, 49,
                          torch.Generator()) == 0.0


def test_the_estimate_is_a_weighted_mean_of_masked_cross_entropies():
    """One pass, one row, by hand: the row masks x of L tokens; each costs its cross-entropy times L / x."""
    prompt, answer = torch.tensor([1]), torch.tensor([3, 4, 5, 6])
    logits_table = torch.randn(6, VOCAB, generator=torch.Generator().manual_seed(3))

    def logits(ids, positions):
        return logits_table[positions]

    seed = 11
    estimate = log_likelihood(logits, prompt, answer, 1, 1, 49, torch.Generator().manual_seed(seed))
    generator = torch.Generator().manual_seed(seed)
    (count,) = masking_counts(4, 1, generator).tolist()
    (masked,) = masked_answer_positions(torch.tensor([count]), 4, generator)
    positions = 1 + masked.nonzero().squeeze(1)
    costs = torch.nn.functional.cross_entropy(logits_table[positions], torch.cat([prompt, answer])[positions], reduction="none")
    assert estimate == pytest.approx(-(costs.sum() * 4 / count).item(), rel=1e-6)


def requests(*pairs):
    return [SimpleNamespace(args=pair) for pair in pairs]


@pytest.fixture(scope="module")
def lm(tiny_masked_lm_dir):
    return DiffusionLM(pretrained=str(tiny_masked_lm_dir), device="cpu", mc_num=8, mc_batch_size=4)


def test_estimates_do_not_depend_on_the_other_requests(lm):
    pairs = [("The sky is", " blue"), ("The sky is", " green"), ("", "hello world"), ("one two ", "three four")]
    alone = [lm.loglikelihood(requests(pair), disable_tqdm=True)[0] for pair in pairs]
    together = lm.loglikelihood(requests(*pairs), disable_tqdm=True)
    reversed_order = lm.loglikelihood(requests(*pairs[::-1]), disable_tqdm=True)[::-1]
    assert alone == together == reversed_order
    assert all(isinstance(ll, float) and ll < 0 and greedy is False for ll, greedy in together)


@pytest.mark.parametrize("options", [{}, {"cfg_scale": 0.5}])
def test_passes_of_several_requests_share_a_forward_pass(tiny_masked_lm_dir, options):
    """With batch_size=N the copies of N passes, of any requests and lengths, run in one forward
    pass (right-padded): the same draws, so the estimates of one pass per forward up to float
    rounding; rolling windows too."""
    from parallelbench_lmeval.models.transformer_backend import TransformerBackend

    pairs = [("The sky is", " blue"), ("", "hello world"), ("a much longer context of many words", " and a long answer too"),
             ("one two ", "three four")]
    text = "one two three four five six seven eight nine ten eleven twelve"
    forwards = []
    logits_at = TransformerBackend.logits_at

    def counting(self, ids, positions, keys=None):
        forwards.append(ids.shape[0])
        return logits_at(self, ids, positions, keys)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TransformerBackend, "logits_at", counting)
        results = {}
        for batch_size in (1, 3, 16):
            lm = DiffusionLM(pretrained=str(tiny_masked_lm_dir), device="cpu", mc_num=8, mc_batch_size=4,
                             batch_size=batch_size, max_length=8, **options)
            forwards.clear()
            results[batch_size] = ([ll for ll, _ in lm.loglikelihood(requests(*pairs), disable_tqdm=True)],
                                   lm.loglikelihood_rolling(requests((text,)), disable_tqdm=True))
            results[batch_size] += (list(forwards),)
    rows = 4 * (2 if options else 1)
    assert results[1][2] == [rows] * (len(results[1][2]))  # one pass per forward pass
    assert max(results[3][2]) == 3 * rows and max(results[16][2]) > 3 * rows
    for batch_size in (3, 16):
        assert results[batch_size][0] == pytest.approx(results[1][0], rel=1e-6)
        assert results[batch_size][1] == pytest.approx(results[1][1], rel=1e-6)


def test_the_seed_changes_the_draws(tiny_masked_lm_dir):
    pair = requests(("The sky is", " blue and wide"))
    first, other = (DiffusionLM(pretrained=str(tiny_masked_lm_dir), device="cpu", mc_num=4, mc_batch_size=4, seed=s)
                    .loglikelihood(pair, disable_tqdm=True)[0][0] for s in (0, 1))
    assert first != other


def test_more_samples_agree_with_fewer_on_average(tiny_masked_lm_dir):
    """The estimate converges: 256 samples and the mean of 16 independent 16-sample estimates agree."""
    pair = ("a b c d", " e f g h")
    many = DiffusionLM(pretrained=str(tiny_masked_lm_dir), device="cpu", mc_num=256, mc_batch_size=32)
    estimate = many.loglikelihood(requests(pair), disable_tqdm=True)[0][0]
    few = [DiffusionLM(pretrained=str(tiny_masked_lm_dir), device="cpu", mc_num=16, mc_batch_size=16, seed=s)
           .loglikelihood(requests(pair), disable_tqdm=True)[0][0] for s in range(16)]
    spread = torch.tensor(few).std().item()
    # both sides estimate the same value with 256 draws: their difference has std spread * sqrt(2 / 16)
    assert abs(estimate - sum(few) / len(few)) < 4 * spread * (2 / 16) ** 0.5


def test_the_split_survives_a_tokenizer_that_appends_sep(lm):
    prompt, answer, suffix = lm.backend.likelihood_inputs("The sky is", " blue")
    tokenizer = lm.backend.tokenizer
    assert tokenizer.convert_ids_to_tokens(prompt) == ["[CLS]", "the", "sky", "is"]
    assert tokenizer.convert_ids_to_tokens(answer) == ["blue"]
    assert tokenizer.convert_ids_to_tokens(suffix) == ["[SEP]"]
    # trailing spaces of the context belong to the continuation
    assert lm.backend.likelihood_inputs("The sky is ", "blue") == (prompt, answer, suffix)


def test_is_greedy_follows_confidence_decoding(tiny_masked_lm_dir):
    lm = DiffusionLM(pretrained=str(tiny_masked_lm_dir), device="cpu", mc_num=2, mc_batch_size=2, check_greedy=True)
    prompt, answer, suffix = lm.backend.likelihood_inputs("hello there", " friend of mine")
    decoded = lm.backend.decodes_greedily(prompt, answer, suffix)
    # write the greedy answer itself as the continuation: it must be recognised
    before = torch.tensor([prompt])
    after = torch.tensor([suffix])
    from parallelbench_lmeval.decoding import DecodingConfig, unmask

    def denoise(canvas, rows, query):
        return lm.backend.logits_at(torch.cat([before, canvas, after], 1), len(prompt) + query.positions)

    greedy = unmask(denoise, 1, DecodingConfig(gen_length=len(answer)), lm.backend.mask_id).tokens[0].tolist()
    assert lm.backend.decodes_greedily(prompt, greedy, suffix)
    assert decoded == (greedy == answer)


def test_rolling_windows_score_every_token_once(tiny_masked_lm_dir):
    lm = DiffusionLM(pretrained=str(tiny_masked_lm_dir), device="cpu", max_length=8, mc_num=2, mc_batch_size=2)
    text = "one two three four five six seven eight nine ten eleven twelve"
    windows = lm.backend.rolling_windows(text)
    scored = [token for _, tokens in windows for token in tokens]
    assert scored == lm.backend.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(windows) > 1 and all(len(c) + len(s) + 1 <= 8 for c, s in windows)  # + [SEP]
    (total,) = lm.loglikelihood_rolling(requests((text,)), disable_tqdm=True)
    assert isinstance(total, float) and total < 0


def test_the_ideal_model_refuses_likelihood_requests():
    lm = DiffusionLM(pretrained="ideal")
    with pytest.raises(NotImplementedError, match="needs a real model"):
        lm.loglikelihood(requests(("a", "b")))


@pytest.mark.parametrize("args, message", [
    ({"mc_num": "10", "mc_batch_size": "4"}, "mc_num=10 is not a multiple of mc_batch_size=4"),
    ({"mc_num": "0"}, "mc_num must be a positive integer"),
    ({"cfg_scale": "-1"}, "cfg_scale must be >= 0"),
])
def test_bad_likelihood_options_are_refused(args, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        DiffusionLM(pretrained="ideal", **args)
