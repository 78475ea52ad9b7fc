"""Block diffusion (SDAR / TraDo, LLaDA2.x, Fast-dLLM v2) on the committed block-diffusion stand-in.

The stand-in (`standins/block_diffusion.py`) is decoded as SDAR (blocks of 4) and, shifted, as
Fast-dLLM v2 (attention blocks of 8, sub-blocks, a block's first token committed alone). Checked:
the layout (blocks counted from the first token), the block cache against recomputing every block
and against a plain loop over the model's own forward, block boundaries, rows that end at an end
token, batch invariance, and the options refused before any weight loads.
"""

import logging
from types import SimpleNamespace

import pytest
import torch
from test_dllm_model import PROMPTS, requests

from parallelbench_lmeval.decoding import DecodingConfig, unmask
from parallelbench_lmeval.decoding.block_diffusion import BlockDiffusionSampler
from parallelbench_lmeval.decoding.samplers import SAMPLER_CLASSES
from parallelbench_lmeval.models import block_diffusion
from parallelbench_lmeval.models.block_diffusion import BlockLayout
from parallelbench_lmeval.models.dllm import DiffusionLM, check_model_args
from parallelbench_lmeval.models.families import detect_family
from parallelbench_lmeval.models.forward import StackForward

MODELS = ["tiny_block_diffusion_dir", "tiny_shifted_block_diffusion_dir"]


def model(request, fixture, **options):
    return DiffusionLM(pretrained=str(request.getfixturevalue(fixture)), trust_remote_code=True, device="cpu",
                       batch_size=8, **options)


def decode(lm, gen_length=16, prompts=PROMPTS, **options):
    config, _, _ = lm.request_config({"max_gen_toks": gen_length, **options})
    backend = lm.backend
    generators = [torch.Generator().manual_seed(row) for row in range(len(prompts))]
    return backend.decode([backend.encode(p, gen_length) for p in prompts], config, generators)


def test_families_are_detected_from_the_published_configs():
    hub = {"sdar": ("sdar", ["SDARForCausalLM"]), "llada2": ("llada2_moe", ["LLaDA2MoeModelLM"]),
           "fast_dllm_v2": ("Fast_dLLM_Qwen", ["Fast_dLLM_QwenForCausalLM"]), "llada_moe": ("llada", ["LLaDAMoEModelLM"]),
           "llada": ("llada", ["LLaDAModelLM"]), "dream": ("Dream", ["DreamModel"])}
    for family, (model_type, architectures) in hub.items():
        assert detect_family(SimpleNamespace(model_type=model_type, architectures=architectures)) == family
        assert detect_family(SimpleNamespace(model_type="renamed", architectures=architectures)) == family
    # LLaDA-MoE's hub config shares model_type "llada" with dense LLaDA; ZHZisZZ/dllm renames it "lladamoe"
    assert detect_family(SimpleNamespace(model_type="lladamoe", architectures=[])) == "llada_moe"
    assert detect_family(SimpleNamespace(model_type="llada", architectures=[],
                                         auto_map={"AutoModel": "modeling_lladamoe.LLaDAMoEModelLM"})) == "llada_moe"
    from transformers import Qwen3Config

    with pytest.raises(ValueError, match=r"model_type 'qwen3' \(architectures: none\); known families: llada .*"
                                         r"sdar \(SDAR-1.7B/4B/8B-Chat, TraDo-4B/8B\).*Pass family=<one of"):
        detect_family(Qwen3Config())


def test_block_length_defaults_to_the_trained_one(request):
    sdar, shifted = model(request, MODELS[0]), model(request, MODELS[1])
    assert (sdar.backend.family, shifted.backend.family) == ("sdar", "fast_dllm_v2")
    assert sdar.request_config({"max_gen_toks": 16})[0].block_length == 4
    assert shifted.request_config({"max_gen_toks": 16})[0].block_length == 8  # Fast-dLLM v2's sub-block
    assert isinstance(sdar.backend.forward, StackForward) and isinstance(shifted.backend.forward, StackForward)
    overridden = model(request, MODELS[0], family="llada2")
    assert overridden.request_config({"max_gen_toks": 64})[0].block_length == 32  # LLaDA2's trained blocks


def test_layout_counts_blocks_from_the_first_token():
    prompts = [[1, 2, 3, 4, 5, 6], [7], list(range(10, 19))]
    layout = BlockLayout.build(prompts, block=4, gen_length=8, pad_id=0, mask_id=99, device="cpu")
    assert layout.prompt_ids.tolist() == [[0, 0, 0, 0, 1, 2, 3, 4], [0] * 8, [10, 11, 12, 13, 14, 15, 16, 17]]
    assert layout.prompt_keys.sum(-1).tolist() == [4, 0, 8]
    assert layout.canvas.tolist() == [[5, 6] + [99] * 10, [7] + [99] * 11, [18] + [99] * 11]
    assert layout.generated_from.tolist() == [2, 1, 1]
    short = BlockLayout.build([[1, 2, 3, 4], [5]], block=4, gen_length=4, pad_id=0, mask_id=99, device="cpu")
    assert short.canvas.tolist() == [[99] * 4 + [0] * 4, [5] + [99] * 7]  # a row past its own end is filled
    assert short.generated(short.canvas).tolist() == [[99] * 4 + [0] * 4, [99] * 7 + [0]]


@pytest.mark.parametrize("fixture", MODELS)
@pytest.mark.parametrize("options", [
    {"k": 1}, {"k": 2, "unmasking": "margin"}, {"threshold": 0.3}, {"unmasking": "entropy", "factor": 4.0},
    {"unmasking": "random", "k": 2, "temperature": 1.0}, {"sampler": "klass"}, {"sampler": "dus"},
])
def test_the_block_cache_equals_recomputing_every_block(request, fixture, options):
    lm = model(request, fixture, **options)
    kept = decode(lm)
    lm.backend.block_cache = False
    recomputed = decode(lm)
    assert torch.equal(kept.tokens, recomputed.tokens) and torch.equal(kept.nfe, recomputed.nfe)


def own_forward_greedy(hub_model, prompt, gen_length, block, shift, mask_id, stop_ids):
    """One prompt, one token per step by confidence, every step recomputed by the model's own forward
    with a block-causal mask (blocks counted from the first token); the first token of a block alone
    for a shifted model; stops after a block holding an end token."""
    total = -(-(len(prompt) + gen_length) // block) * block
    x = torch.full((1, total), mask_id)
    x[0, : len(prompt)] = torch.tensor(prompt)
    block_of = torch.arange(total) // block
    allowed = (block_of[None, :] <= block_of[:, None])[None, None]
    nfe = 0

    def predictions(end):
        logits = hub_model(x[:, :end], attention_mask=allowed[..., :end, :end],
                           position_ids=torch.arange(end)[None]).logits[0]
        logits[:, mask_id] = float("-inf")
        return logits.softmax(-1)

    for start in range(len(prompt) // block * block, total, block):
        end = start + block
        if shift and x[0, start] == mask_id:
            x[0, start] = predictions(end)[start - 1].argmax()
            nfe += 1
        while (x[0, start:end] == mask_id).any():
            probs = predictions(end)[torch.arange(start, end) - shift]
            confidence, token = probs.max(-1)
            confidence[x[0, start:end] != mask_id] = float("-inf")
            best = int(confidence.argmax())
            x[0, start + best] = token[best]
            nfe += 1
        if torch.isin(x[0, len(prompt) : end], torch.tensor(stop_ids)).any():
            return x[0, len(prompt) : end].tolist(), nfe
    return x[0, len(prompt) :].tolist(), nfe


@pytest.mark.parametrize("fixture", MODELS)
def test_the_engine_equals_a_plain_loop_over_the_models_own_forward(request, fixture):
    lm = model(request, fixture, k=1)
    backend = lm.backend
    prompts = [backend.encode(p, 16) for p in PROMPTS]
    ours = decode(lm)
    block = 4 if fixture == MODELS[0] else 8
    for row, prompt in enumerate(prompts):
        with torch.no_grad():
            tokens, nfe = own_forward_greedy(backend.forward.stack.model, prompt, 16, block, backend.forward_shift,
                                             backend.mask_id, backend.stop_ids)
        assert ours.tokens[row, : len(tokens)].tolist() == tokens and ours.nfe[row] == nfe
        assert (ours.tokens[row, len(tokens) :] == backend.ids.pad_id).all()


class Recorder:
    """Wraps a denoiser and records, per call, the canvases it saw and the positions asked for."""

    def __init__(self, denoise):
        self.denoise, self.calls = denoise, []

    def __call__(self, canvas, rows, query):
        self.calls.append((canvas.clone(), query.block, query.positions.clone()))
        return self.denoise(canvas, rows, query)


@pytest.mark.parametrize("fixture", MODELS)
def test_blocks_are_decoded_left_to_right_and_a_first_token_alone(request, fixture, monkeypatch):
    lm = model(request, fixture, threshold=0.3)
    recorders = []

    def recording(*args, **kwargs):
        recorders.append(Recorder(block_diffusion.BlockCausalDenoiser(*args, **kwargs)))
        return recorders[-1]

    monkeypatch.setattr("parallelbench_lmeval.models.transformer_backend.BlockCausalDenoiser", recording)
    decode(lm)
    mask, fill = lm.backend.mask_id, lm.backend.ids.pad_id
    first_calls = {}
    for canvas, block, positions in recorders[0].calls:
        assert ((positions >= block.start) & (positions < block.end)).all()
        assert not (canvas[:, : block.start] == mask).any()  # earlier blocks are finished
        later = canvas[:, block.end :]
        assert ((later == mask) | (later == fill)).all()  # later blocks untouched
        first_calls.setdefault(block.start, (canvas, positions))
    alone = 0
    for start, (canvas, positions) in first_calls.items():
        if fixture == MODELS[1] and start % 8 == 0 and (canvas[:, start] == mask).any():
            assert (positions == start).all() and (canvas[:, start] == mask).all()
            alone += 1
    # Fast-dLLM v2: every attention block but the first, whose first tokens are the prompts' tails
    assert alone == (len(first_calls) - 1 if fixture == MODELS[1] else 0)


def stopping_denoiser(rows_ending: set[int], end_token: int, vocab: int = 8):
    """Predicts token 1 everywhere, except the end token at canvas position 1 for `rows_ending`."""

    def denoise(canvas, rows, query):
        logits = torch.zeros(*query.positions.shape, vocab)
        logits[..., 1] = 5.0
        for i, row in enumerate(rows.tolist()):
            if row in rows_ending:
                logits[i, query.positions[i] == 1, end_token] = 10.0
        return logits

    return denoise


def test_rows_end_after_the_block_that_holds_their_end_token():
    mask, end, fill = 7, 5, 0
    layout = BlockLayout.build([[2, 3, 3, 3], [2, 3, 3, 3], [2]], block=4, gen_length=12, pad_id=fill, mask_id=mask,
                               device="cpu")
    config = layout.internal_config(DecodingConfig.from_options(gen_length=12, block_length=4, k=1))
    sampler = BlockDiffusionSampler(SAMPLER_CLASSES["standard"](config, 3, mask, "cpu"), 4, layout.generated_from,
                                    layout.ends, [end], fill)
    result = unmask(stopping_denoiser({0}, end), 3, config, mask, canvas=layout.canvas, sampler=sampler)
    tokens = layout.generated(result.tokens)
    assert tokens[0].tolist() == [1, 5, 1, 1] + [fill] * 12  # ended after its first block
    assert tokens[1].tolist() == [1] * 12 + [fill] * 4
    assert result.tokens[2].tolist() == [2] + [1] * 15  # the prompt's tail opens the canvas: 15 to decode
    assert result.nfe.tolist() == [4, 12, 15]


def test_text_ends_at_the_first_end_token(request):
    backend = model(request, MODELS[0]).backend
    end, pad = backend.stop_ids[0], backend.ids.pad_id
    tokens = torch.tensor([[4, 5, end, 6, end, 7], [4, 5, 6, 7, 8, 9]])
    assert backend.ended_at_stop(tokens).tolist() == [[4, 5, end, pad, pad, pad], [4, 5, 6, 7, 8, 9]]


@pytest.mark.parametrize("fixture", MODELS)
@pytest.mark.parametrize("options", [{"k": 2}, {"threshold": 0.3}, {"unmasking": "random", "k": 2, "temperature": 1.0},
                                     {"threshold": 0.3, "temperature": 1.0}, {"unmasking": "random", "threshold": 0.3}])
def test_outputs_do_not_depend_on_the_batch(request, fixture, options):
    folder = str(request.getfixturevalue(fixture))
    outputs = []
    for batch_size, prompts in ((1, PROMPTS), (8, PROMPTS), (3, PROMPTS[::-1])):
        lm = DiffusionLM(pretrained=folder, trust_remote_code=True, device="cpu", batch_size=batch_size, **options)
        decoded = lm.generate_until(requests(prompts), disable_tqdm=True)
        outputs.append([(str(o), o.stats["nfe"]) for o in (decoded if prompts is PROMPTS else decoded[::-1])])
    assert outputs[0] == outputs[1] == outputs[2]


@pytest.mark.parametrize("fixture, options, message", [
    (MODELS[0], {"sampler": "wino"}, "sampler=wino revokes committed tokens of the block"),
    (MODELS[0], {"sampler": "rcr"}, "sampler=rcr re-masks tokens of earlier blocks"),
    (MODELS[0], {"sampler": "remdm"}, "sampler=remdm re-masks committed tokens"),
    (MODELS[0], {"cache": "prefix"}, "cache=prefix: sdar is a block-diffusion model"),
    (MODELS[0], {"compat": "parallelbench"}, "compat=parallelbench reproduces the benchmark's released LLaDA and Dream"),
    (MODELS[0], {"unmasking": "left_to_right", "k": 3}, r"k \(left_to_right's block\)=3 must divide the attention block of 4"),
    (MODELS[1], {"block_length": 16}, r"block_length \(a sub-block\)=16 must divide the attention block of 8 tokens"),
])
def test_options_a_block_diffusion_model_cannot_use_are_refused(request, fixture, options, message, no_weights):
    with pytest.raises(ValueError, match=message):  # the model's own options: when it is built
        model(request, fixture, **options)
    with pytest.raises(ValueError, match=message):  # the same as a request's gen_kwargs: before any pass
        model(request, fixture).generate_until(requests(**options), disable_tqdm=True)
    with pytest.raises(ValueError, match=message):  # as the lm_eval hook and sweeps check it
        check_model_args({"pretrained": str(request.getfixturevalue(fixture)), "trust_remote_code": True},
                         {"device": "cpu"}, configurations=[options])


def test_other_block_lengths_are_warned_about(request, caplog):
    lm = model(request, MODELS[0], block_length=8)
    with caplog.at_level(logging.WARNING):
        assert lm.request_config({"max_gen_toks": 16})[0].block_length == 8
    assert "sdar was trained with blocks of 4 tokens" in caplog.text


def test_likelihood_is_refused_for_block_diffusion(request):
    lm = model(request, MODELS[0])
    with pytest.raises(NotImplementedError, match="block-diffusion model, for which dllm has no likelihood"):
        lm.loglikelihood([SimpleNamespace(args=("a", " b"))], disable_tqdm=True)


@pytest.mark.parametrize("max_post_steps, canvases", [
    (2, [[7, 7, 7], [1, 7, 7], [4, 2, 7], [4, 2, 3], [4, 6, 3]]),  # edits after the block is full, until one edits nothing
    (0, [[7, 7, 7], [1, 7, 7], [4, 2, 7]]),  # no step once the block is full
])
def test_llada21_editing_commits_above_the_threshold_and_replaces_what_the_model_revises(max_post_steps, canvases):
    from test_samplers import MASK, TabledDenoiser, distribution

    table = [  # per call, each position's (token: probability)
        [{1: 0.97}, {2: 0.6}, {3: 0.5}],
        [{4: 0.95}, {2: 0.96}, {3: 0.5}],  # position 0 revised (0.95 > 0.9), position 1 unmasked
        [{4: 0.99}, {5: 0.8}, {3: 0.6}],  # a revision below 0.9 is not made
        [{4: 0.99}, {6: 0.95}, {3: 0.99}],  # the block is full: editing only
        [{4: 0.99}, {6: 0.99}, {3: 0.99}],  # nothing to edit: the block ends
    ]
    denoiser = TabledDenoiser(lambda canvas, call: torch.stack([distribution(p) for p in table[call]]))
    config = DecodingConfig.from_options(gen_length=3, sampler="edit", edit_max_post_steps=max_post_steps)
    result = unmask(denoiser, 1, config, MASK)
    assert denoiser.canvases == canvases and result.nfe.tolist() == [len(canvases)]
    assert result.tokens[0].tolist() == ([4, 6, 3] if max_post_steps else [4, 2, 3])


def test_parallelize_places_the_model_with_accelerate_and_decodes_the_same(request, monkeypatch):
    """On this CPU-only machine device_map="auto" keeps every layer on the CPU: what runs is the loading
    path and the decoding around it (layers on several GPUs need a machine that has them)."""
    plain = model(request, MODELS[0], k=2)
    spread = model(request, MODELS[0], k=2, parallelize=True)
    assert spread.backend.describe()["device_map"] == "auto"
    assert torch.equal(decode(plain).tokens, decode(spread).tokens)
    assert hasattr(spread.backend.forward.stack.model, "hf_device_map")
    monkeypatch.setattr("parallelbench_lmeval.models.dllm._data_parallel_accelerator", lambda device: object())
    with pytest.raises(ValueError, match="parallelize=True spreads one copy of the model"):
        model(request, MODELS[0], parallelize=True)


def test_every_block_diffusion_family_decodes_whole_blocks_past_the_length():
    from parallelbench_lmeval.decoding.config import BLOCK_DIFFUSION_FAMILIES, UNTILED_BLOCK_FAMILIES
    from parallelbench_lmeval.models.families import BLOCK_FAMILIES

    assert BLOCK_DIFFUSION_FAMILIES == set(BLOCK_FAMILIES)
    assert UNTILED_BLOCK_FAMILIES == {"ideal", *BLOCK_FAMILIES}
