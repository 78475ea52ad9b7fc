"""Our key/value caches on the hub-format remote code of LLaDA, LLaDA-MoE and Dream, and Dream's own sampler.

    python benchmarks/tiny_checkpoints.py llada --code /work/refs/llada_hub --out /tmp/eq/llada
    python benchmarks/reference_equivalence.py /work/refs/llada_hub /tmp/eq/llada
    python benchmarks/tiny_checkpoints.py dream --code /work/refs/dream_hub --out /tmp/eq/dream
    python benchmarks/reference_equivalence.py /work/refs/dream_hub /tmp/eq/dream
    python benchmarks/tiny_checkpoints.py lladamoe --code PATH/TO/dllm/pipelines/llada/models --out /tmp/eq/lladamoe
    python benchmarks/reference_equivalence.py PATH/TO/dllm/pipelines/llada/models /tmp/eq/lladamoe

REFERENCE_PATH is the folder of hub remote code the checkpoint was built from (checked to be
the checkpoint's own copy).

Caches (self-check): the hub code has no cached decoding to compare with (LLaDA's and
LLaDA-MoE's forwards refuse a cache, an assert in modeling_llada.py's LLaDAModel.forward and
modeling_lladamoe.py's LLaDAMoEModel.forward; Dream's sampler runs without one). Our engine runs the hub code's layers itself, and with `cache_refresh=1` (kept keys
and values rebuilt at every step) `cache=prefix` and `cache=dual` must give exactly the tokens
and NFE of `cache=none`: compared here with our `cache=none` run one prompt at a time (the cached
runs decode all prompts in one batch). Fast-dLLM's own caches (refreshed at block starts only)
are the fast_dllm adapter's part; LLaDA's uncached reference sampler is llada_generate's.

Dream's `diffusion_generate` (generation_utils.py) against ours, where they are the same
algorithm: `alg=maskgit_plus|topk_margin|entropy` order positions by confidence, margin and
negative entropy over one block, but commit int(masks * (1 - s/t)) tokens per step on float32
timesteps linspace(1, eps, steps+1) (generation_utils.py:405, :437), which truncation makes
uneven even at eps=0 (e.g. 4, 3, 4, ... for 32 tokens in 8 steps), while ours spreads them
evenly. With eps=0 and at most 2 steps both schedules are 16 + 16 for 32 tokens, so those runs
check our Dream forward (logit shift, grouped-query attention, RoPE) and scores against the
hub's own sampler. They pass `top_k=None`: called without a generation config, the sampler
builds one from the model config (generation_utils.py:228), which under transformers carries
the generic default top_k=50, and then renormalises every position's distribution over its 50
best tokens before computing confidences (generation_utils.py:64-65); our engine scores the
whole vocabulary. With that default, alg=entropy chose other positions for 1 prompt in 10 here.
"""

from __future__ import annotations

from pathlib import Path

import torch

from equivalence.common import GEN_LENGTH, Case, Engine

MODELING_FILES = ("modeling_llada.py", "modeling_lladamoe.py", "modeling_dream.py")
# (our options besides cache, as in the table's setting column)
CACHE_SETTINGS = (
    {"unmasking": "confidence", "steps": 16, "block_length": 8},
    {"unmasking": "confidence", "threshold": 0.9, "block_length": 8},
    {"unmasking": "random", "steps": 16, "block_length": 8},
)
DREAM_ALGS = {"maskgit_plus": "confidence", "topk_margin": "margin", "entropy": "entropy"}
DREAM_STEPS = (1, 2)


def modeling_file(folder: Path) -> Path | None:
    return next((folder / name for name in MODELING_FILES if (folder / name).is_file()), None)


def detect(reference: Path) -> bool:
    """A folder of hub remote code (Fast-dLLM's patched LLaDA, with its replace_position, is not)."""
    file = modeling_file(reference) if reference.is_dir() else None
    return file is not None and "replace_position" not in file.read_text(encoding="utf-8")


def decode_alone(engine: Engine, prompt_ids: list[int], options: dict) -> tuple[list[int], int]:
    """Our engine on one prompt; its generator's seed is the one the runner gave the global RNG."""
    tokens, nfe = engine.decode([prompt_ids], options, [torch.initial_seed()])
    return tokens[0], nfe[0]


def dream_generate(model, prompt_ids: list[int], alg: str, steps: int) -> tuple[list[int], int]:
    """Dream's hub sampler on one prompt; its logits hook counts the forward passes."""
    passes = []

    def count(step, x, logits):
        passes.append(step)
        return logits

    out = model.diffusion_generate(torch.tensor([prompt_ids]), max_new_tokens=GEN_LENGTH, steps=steps, eps=0.0,
                                   alg=alg, temperature=0.0, top_k=None, generation_logits_hook_func=count)
    return out[0, len(prompt_ids):].tolist(), len(passes)


def dream_case(alg: str, steps: int) -> Case:
    return Case(
        method=f"diffusion_generate alg={alg}",
        setting=f"gen_length={GEN_LENGTH} steps={steps} eps=0",
        options={"gen_length": GEN_LENGTH, "unmasking": DREAM_ALGS[alg], "steps": steps},
        reference=lambda model, prompt_ids: dream_generate(model, prompt_ids, alg, steps),
        reference_file="generation_utils.py",
        note="eps=0, <= 2 steps: its quotas are ours (generation_utils.py:405, :437); top_k=None, not 50 (:228, :64)",
    )


def cases(reference: Path, model_dir: Path) -> list[Case]:
    code, checkpoint_code = modeling_file(reference), modeling_file(model_dir)
    if checkpoint_code is None or checkpoint_code.read_bytes() != code.read_bytes():
        raise ValueError(f"{model_dir} was not built from {code}: its {code.name} differs or is missing "
                         f"(build it with benchmarks/tiny_checkpoints.py --code {reference})")

    def case(cache: str, setting: dict) -> Case:
        uncached = {"gen_length": GEN_LENGTH, **setting}
        random_order = setting["unmasking"] == "random"
        return Case(
            method=f"cache={cache} cache_refresh=1",
            setting=" ".join(f"{name}={value}" for name, value in uncached.items()),
            options={**uncached, "cache": cache, "cache_refresh": 1},
            reference=lambda engine, prompt_ids: decode_alone(engine, prompt_ids, uncached),
            reference_file=f"{code.name}: ours, cache=none, batch 1",
            load_model=Engine,
            note="self-check: no cached reference in the hub code" + ("; same seed per prompt" if random_order else ""),
        )

    found = [case(cache, setting) for setting in CACHE_SETTINGS for cache in ("prefix", "dual")]
    if code.name == "modeling_dream.py":
        found += [dream_case(alg, steps) for alg in DREAM_ALGS for steps in DREAM_STEPS]
    return found
