"""The `dllm` lm-eval model on tiny random-weight models (masked LM and a shifted Dream stand-in)."""

from types import SimpleNamespace

import pytest
import torch

from parallelbench_lmeval.models.dllm import DiffusionLM
from parallelbench_lmeval.models.forward import OwnForward, StackForward
from parallelbench_lmeval.stats import DecodedText, decode_stats

PROMPTS = [
    "hello world this is a test",
    "a",
    "the quick brown fox jumps over the lazy dog " * 3,
    "one two",
    "x y z " * 10,
    "tell me a story about a cat",
    "what",
    "ok then we go home now",
]


def requests(prompts=PROMPTS, **gen_kwargs):
    kwargs = {"until": [], "max_gen_toks": 16, **gen_kwargs}
    return [SimpleNamespace(args=(p, dict(kwargs))) for p in prompts]


def decode(model_dir, batch_size, family=None, prompts=PROMPTS, **options):
    lm = DiffusionLM(pretrained=str(model_dir), family=family, device="cpu", batch_size=batch_size, **options)
    return lm, lm.generate_until(requests(prompts), disable_tqdm=True)


@pytest.mark.parametrize("family_fixture, family", [("tiny_masked_lm_dir", None), ("tiny_dream_dir", "dream")])
@pytest.mark.parametrize(
    "options",
    [
        {"k": 2},
        {"unmasking": "margin", "threshold": 0.001},
        {"unmasking": "entropy", "factor": 3.0, "block_length": 8},
        {"unmasking": "random", "k": 2, "temperature": 1.0},  # sampled, random order: per-prompt generators
    ],
)
def test_outputs_do_not_depend_on_batch_composition(request, family_fixture, family, options):
    model_dir = request.getfixturevalue(family_fixture)
    _, one_at_a_time = decode(model_dir, 1, family, **options)
    _, batched = decode(model_dir, 8, family, **options)
    _, other_mix = decode(model_dir, 3, family, prompts=PROMPTS[::-1], **options)
    assert one_at_a_time == batched == other_mix[::-1]
    assert [o.stats["nfe"] for o in one_at_a_time] == [o.stats["nfe"] for o in batched]


def test_family_is_detected_from_the_config(tiny_masked_lm_dir):
    lm = DiffusionLM(pretrained=str(tiny_masked_lm_dir), device="cpu")
    assert lm.backend.family == "masked_lm"
    assert lm.backend.mask_id == 103  # [MASK] of the BERT tokenizer


def test_dream_stand_in_reads_logits_one_position_earlier(tiny_dream_dir):
    lm = DiffusionLM(pretrained=str(tiny_dream_dir), family="dream", device="cpu")
    assert isinstance(lm.backend.forward, StackForward)  # its layers, run one by one, agree with its forward
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    with torch.no_grad():  # Dream attends both ways: a full 4-D boolean mask
        full = lm.backend.forward.stack.model(ids, attention_mask=torch.ones(1, 1, 6, 6, dtype=torch.bool)).logits
        assert torch.allclose(lm.backend.logits_at(ids, torch.tensor([[3, 4]])), full[:, 2:4], atol=1e-5)


def test_llada_stand_in_with_a_smaller_vocabulary_decodes(tmp_path):
    """The cache benchmark's stand-in with LLaDA-8B's share of the output layer: BERT's tokenizer
    restricted to 2,944 entries still encodes any ASCII text, within the model's vocabulary."""
    from parallelbench_lmeval.tiny_models import bert_tokenizer, tiny_llada_standin

    # 1135: the smallest that keeps the special tokens and ASCII characters; 2016: cuts just past `##s` (2015)
    for size in (2944, 1135, 2016):
        tokenizer = bert_tokenizer(size)
        ids = tokenizer("Paraphrase: the quick brown fox (aqua, 42) jumps over the lazy dog!")["input_ids"]
        assert len(tokenizer) == size and max(ids) < size and tokenizer.unk_token_id not in ids
        assert tokenizer.convert_ids_to_tokens(103) == "[MASK]"
    with pytest.raises(ValueError, match="vocab_size=1000 is too small: BERT's special tokens and ASCII characters need at least 1135"):
        bert_tokenizer(1000)
    lm = DiffusionLM(pretrained=str(tiny_llada_standin(tmp_path, vocab_size=2944)), trust_remote_code=True, device="cpu")
    assert lm.backend.forward.stack.model.config.vocab_size == 2944
    [text] = lm.generate_until(requests(["the quick brown fox"], max_gen_toks=8, k=2))
    assert text.stats["nfe"] == 4


def test_windowed_head_gives_the_full_heads_logits(tiny_masked_lm_dir):
    lm = DiffusionLM(pretrained=str(tiny_masked_lm_dir), device="cpu")
    forward = lm.backend.forward
    assert isinstance(forward, OwnForward) and forward.head is not None
    ids = torch.tensor([[101, 7592, 2088, 103, 103, 103, 102]])
    mask = torch.ones_like(ids)
    windowed = lm.backend.logits_at(ids, torch.tensor([[5, 3, 4]]))
    forward.head.positions = None
    full = forward.model(ids, attention_mask=mask).logits[:, [5, 3, 4]]
    assert windowed.shape == full.shape
    assert torch.allclose(windowed, full, atol=1e-5)


def test_outputs_carry_statistics(tiny_masked_lm_dir):
    lm, outputs = decode(tiny_masked_lm_dir, 4, k=4)
    assert all(isinstance(o, DecodedText) for o in outputs)
    stats = decode_stats(outputs[0])
    assert stats["nfe"] == 4 and stats["tokens_per_step"] == 4.0
    assert 0 <= stats["gen_tokens"] <= 16 and stats["decode_seconds"] > 0
    info = lm.get_model_info()
    assert info["dllm_totals"]["samples"] == len(PROMPTS)
    assert info["dllm_totals"]["nfe"] == 4 * len(PROMPTS)
    assert info["dllm_totals"]["pooled_tokens_per_step"] == 4.0
    assert info["dllm"]["family"] == "masked_lm"


def test_statistics_survive_pickling():
    import pickle

    text = pickle.loads(pickle.dumps(DecodedText("abc", {"nfe": 3})))
    assert text == "abc" and decode_stats(text) == {"nfe": 3}
    assert decode_stats("plain string from an hf model") == {}


def test_same_seed_same_outputs_and_sampling_differs_with_seed(tiny_masked_lm_dir):
    kwargs = {"unmasking": "random", "temperature": 1.0, "k": 2}
    _, first = decode(tiny_masked_lm_dir, 4, seed=7, **kwargs)
    _, again = decode(tiny_masked_lm_dir, 4, seed=7, **kwargs)
    _, other = decode(tiny_masked_lm_dir, 4, seed=8, **kwargs)
    assert first == again
    assert first != other


def test_gen_kwargs_override_model_defaults(tiny_masked_lm_dir):
    lm = DiffusionLM(pretrained=str(tiny_masked_lm_dir), device="cpu", batch_size=8, k=2)
    out = lm.generate_until(requests(PROMPTS[:2], k=8), disable_tqdm=True)
    assert [o.stats["nfe"] for o in out] == [2, 2]


def test_until_truncates_the_decoded_text(tiny_masked_lm_dir):
    lm, full = decode(tiny_masked_lm_dir, 8, k=4)
    stop = full[0].split()[1]
    cut = lm.generate_until(requests(PROMPTS[:1], until=[stop], k=4), disable_tqdm=True)
    assert cut[0] == full[0].split(stop)[0]
    assert stop not in cut[0]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"unmasking": "bogus"}, "unknown unmasking strategy 'bogus'"),
        ({"threshold": 0.9, "factor": 1.2}, "threshold and factor"),
        ({"k": 2, "steps": 16}, "either k (tokens per step) or steps"),
        ({"threshold": 1.2}, "threshold must lie in (0, 1]"),
        ({"k": 0}, "must be a positive integer"),
        ({"top_p": 0.9}, "unknown dllm option(s) ['top_p']"),
        ({"batch_size": "many"}, "batch_size must be a positive integer or 'auto'"),
        ({"max_gen_toks": 2.5}, "max_gen_toks must be an integer, got 2.5"),
    ],
)
def test_invalid_model_options_fail_before_anything_is_loaded(options, message):
    with pytest.raises(ValueError) as error:
        DiffusionLM(pretrained="/nonexistent/model/dir", device="cpu", **options)
    assert message in str(error.value)


def test_block_length_not_dividing_fails_before_the_weights_load(tiny_masked_lm_dir):
    lm = DiffusionLM(pretrained=str(tiny_masked_lm_dir), device="cpu", block_length=5)
    with pytest.raises(ValueError, match="block_length=5 does not divide the generation length 16"):
        lm.generate_until(requests(), disable_tqdm=True)
    assert lm.backend._forward is None


def test_unknown_family_is_rejected(tiny_masked_lm_dir):
    with pytest.raises(ValueError, match="unknown family 'gpt'; allowed: llada, llada_moe, dream, masked_lm, sdar, llada2, fast_dllm_v2"):
        DiffusionLM(pretrained=str(tiny_masked_lm_dir), device="cpu", family="gpt")


def test_unknown_gen_kwargs_are_rejected(tiny_masked_lm_dir):
    lm = DiffusionLM(pretrained=str(tiny_masked_lm_dir), device="cpu")
    with pytest.raises(ValueError, match=r"unknown gen_kwargs \['top_p'\] for dllm"):
        lm.generate_until(requests(top_p=0.9), disable_tqdm=True)


def test_unavailable_gpu_falls_back_to_cpu(tiny_masked_lm_dir, caplog):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    lm = DiffusionLM(pretrained=str(tiny_masked_lm_dir), device="cuda:0")
    assert lm.device.type == "cpu"
    assert "not available" in caplog.text


def test_chat_template_is_applied(tiny_masked_lm_dir):
    lm = DiffusionLM(pretrained=str(tiny_masked_lm_dir), device="cpu")
    text = lm.apply_chat_template([{"role": "user", "content": "hi"}])
    assert text == "<|user|>\nhi\n<|assistant|>\n"
    assert lm.chat_template(True) == lm.backend.tokenizer.chat_template
    assert lm.tokenizer_name


def test_special_ids_can_be_overridden(tiny_masked_lm_dir):
    lm = DiffusionLM(pretrained=str(tiny_masked_lm_dir), device="cpu", mask_id=4, eos_id=102, eot_id=5)
    ids = lm.backend.ids
    assert (ids.mask_id, ids.eos_id, ids.eot_id) == (4, 102, 5)


def test_suppress_eos_forbids_end_tokens(tiny_masked_lm_dir):
    lm = DiffusionLM(pretrained=str(tiny_masked_lm_dir), device="cpu", eos_id=102, eot_id=5, suppress_eos=True)
    assert lm.backend.forbidden_ids == [5, 102]
    out = lm.generate_until(requests(PROMPTS[:2]), disable_tqdm=True)
    assert all(o.stats["gen_tokens"] == 16 for o in out)


def test_totals_cover_one_run_and_empty_runs_are_fine(tiny_masked_lm_dir):
    lm, _ = decode(tiny_masked_lm_dir, 8, k=8)
    lm.generate_until(requests(PROMPTS[:3], k=8), disable_tqdm=True)
    assert lm.get_model_info()["dllm_totals"]["samples"] == 3
    assert lm.generate_until([], disable_tqdm=True) == []


def test_auto_batch_size_halves_batches_that_run_out_of_memory(tiny_masked_lm_dir, monkeypatch):
    lm = DiffusionLM(pretrained=str(tiny_masked_lm_dir), device="cpu", batch_size="auto", k=8)
    real_generate = lm.backend.generate
    sizes = []

    def generate_small_batches_only(contexts, config, generator):
        sizes.append(len(contexts))
        if len(contexts) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_generate(contexts, config, generator)

    monkeypatch.setattr(lm.backend, "generate", generate_small_batches_only)
    outputs = lm.generate_until(requests(), disable_tqdm=True)
    assert len(outputs) == len(PROMPTS) and all(o.stats["nfe"] == 2 for o in outputs)
    assert sizes[:3] == [8, 4, 2] and set(sizes[3:]) == {2}
    _, reference = decode(tiny_masked_lm_dir, 1, k=8)
    assert outputs == reference


def test_fixed_batch_size_does_not_hide_out_of_memory(tiny_masked_lm_dir, monkeypatch):
    lm = DiffusionLM(pretrained=str(tiny_masked_lm_dir), device="cpu", batch_size=4, k=8)

    def out_of_memory(contexts, config, generator):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(lm.backend, "generate", out_of_memory)
    with pytest.raises(torch.OutOfMemoryError):
        lm.generate_until(requests(), disable_tqdm=True)
