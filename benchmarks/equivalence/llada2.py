"""Adapter for LLaDA2.0's and LLaDA2.1's own `generate` (LLaDA2MoeModelLM.generate in
modeling_llada2_moe.py, as mirrored in ZHZisZZ/dllm `dllm/pipelines/llada2/models/` and, for 2.1,
`dllm/pipelines/llada21/models/modeling_llada21_moe.py`).

    python benchmarks/tiny_checkpoints.py llada2 --code PATH/TO/dllm/pipelines/llada2/models --out /tmp/eq/llada2 --eos-scale 4
    python benchmarks/reference_equivalence.py PATH/TO/dllm/pipelines/llada2/models /tmp/eq/llada2
    python benchmarks/tiny_checkpoints.py llada21 --code PATH/TO/dllm/pipelines/llada21/models --out /tmp/eq/llada21 --eos-scale 4
    python benchmarks/reference_equivalence.py PATH/TO/dllm/pipelines/llada21/models /tmp/eq/llada21

REFERENCE_PATH is the folder of the modeling file the checkpoint was built from; the reference is
the checkpoint's own model's `generate`. It counts blocks from the prompt's first token and, at
every step, recomputes the whole sequence up to the current block with a block-causal mask (no
cache). LLaDA2.0 (modeling_llada2_moe.py:1272-1441): at most `steps` steps per block, each commits
every masked position above `threshold` when there are at least the step's quota (LLaDA's
schedule over the block), else the quota by confidence (capped at the masks left, :1402-1412;
`threshold=1.0` makes it top-k); after a block holding `eos_id` it stops (:1423-1428) and returns
the tokens up to the first EOS, within gen_length (:1430-1441). Ours: `k` (one token per step for
`steps` = block length, two for half as many) or `threshold`. LLaDA2.1 (modeling_llada21_moe.py:
1240-1438): the same unmasking with a quota of one, plus editing (:1398-1414): committed tokens of
the block (not the prompt's) whose new prediction differs and is above `editing_threshold` are
replaced, and a full block goes on while steps edit, at most `max_post_steps` (:1352-1418). Ours:
`sampler=edit` (`edit_unmask_threshold`, `edit_threshold`, `edit_max_post_steps`); the reference
runs with `eos_early_stop=True`, which stops after a decoded block holding EOS as LLaDA2.0 does
(:1420-1425; without it LLaDA2.1 decodes every block and cuts at the first EOS).

Deliberate differences:
- the reference builds its block mask in bfloat16 (modeling_llada2_moe.py:1358, llada21 :1329),
  which SDPA refuses beside the float32 queries of a CPU run: the adapter hands the model the same
  mask in float32 (its values, 0 and -inf, are exact in both);
- threshold ties: `> threshold` (:1402; llada21 :1383), ours `>=`; only exact ties differ;
- the mask token is never proposed by ours (the reference's argmax may pick it; the tiny
  checkpoints never predict it).
Tokens compared: what the reference returns (up to its first EOS, within gen_length), against
the same positions of ours; NFE: the reference's forward passes.
"""

from __future__ import annotations

from pathlib import Path

import torch

from equivalence.common import GEN_LENGTH, Case, engine_backend
from equivalence.sdar import load_causal_lm

MODELING_FILES = {"modeling_llada2_moe.py": "llada2", "modeling_llada21_moe.py": "llada21"}
# LLaDA2.0: (block_length, steps per block, threshold); threshold 1.0 is never exceeded: top-k
SETTINGS_20 = (
    (32, 32, 1.0),
    (32, 32, 0.95),  # the defaults of generate
    (8, 8, 0.7),
    (8, 4, 1.0),  # two tokens per step
)
# LLaDA2.1: (block_length, threshold, editing_threshold, max_post_steps)
SETTINGS_21 = (
    (32, 0.95, 0.9, 16),  # the defaults of generate
    (8, 0.7, 0.5, 16),
    (8, 0.8, 0.3, 2),
    (32, 0.5, 1.0, 16),  # editing never triggers
)


def modeling_file(reference: Path) -> Path | None:
    folder = reference if reference.is_dir() else reference.parent
    return next((folder / name for name in MODELING_FILES if (folder / name).is_file()), None)


def detect(reference: Path) -> bool:
    file = modeling_file(reference)
    return file is not None and "def generate(" in file.read_text(encoding="utf-8")


class ForwardPasses:
    """Stands in for the model's `forward` while `generate` runs (it calls `self.forward`): counts the
    calls and hands the model its block mask in float32 (see the docstring)."""

    def __init__(self, forward):
        self.forward, self.calls = forward, 0

    def __call__(self, *args, attention_mask=None, **kwargs):
        self.calls += 1
        if attention_mask is not None and attention_mask.is_floating_point():
            attention_mask = attention_mask.to(torch.float32)
        return self.forward(*args, attention_mask=attention_mask, **kwargs)


def run_generate(model, prompt_ids: list[int], **settings) -> tuple[list[int], int]:
    counted = ForwardPasses(model.forward)
    model.forward = counted
    try:
        out = model.generate(torch.tensor([prompt_ids]), gen_length=GEN_LENGTH, temperature=0.0, **settings)
    finally:
        del model.forward  # the class's method again
    return out[0].tolist(), counted.calls


def cases(reference: Path, model_dir: Path) -> list[Case]:
    version = MODELING_FILES[modeling_file(reference).name]
    built_from = next((name for name in MODELING_FILES if (model_dir / name).is_file()), None)
    if built_from is None or MODELING_FILES[built_from] != version:
        raise ValueError(f"{model_dir} was not built from {modeling_file(reference).name} (tiny_checkpoints.py {version})")
    backend = engine_backend(model_dir)
    if len(backend.stop_ids) != 1:
        raise ValueError(f"the reference stops at one eos_id; our engine stops at {backend.stop_ids}")
    ids = {"eos_id": backend.stop_ids[0], "mask_id": backend.mask_id}

    def case_20(block: int, steps: int, threshold: float) -> Case:
        def run(model, prompt_ids):
            return run_generate(model, prompt_ids, block_length=block, steps=steps, threshold=threshold, **ids)

        options = {"gen_length": GEN_LENGTH, "block_length": block,
                   **({"k": block // steps} if threshold >= 1.0 else {"threshold": threshold})}
        return Case(method="generate (LLaDA2.0)", setting=f"gen={GEN_LENGTH} block={block} steps={steps} "
                    f"threshold={threshold}", options=options, reference=run, reference_file="modeling_llada2_moe.py",
                    load_model=load_causal_lm, prefix=True,
                    note="float32 block mask (:1358); threshold 1.0 = top-k" if threshold >= 1.0 else
                    "float32 block mask (:1358); > vs >= (:1402)")

    def case_21(block: int, threshold: float, editing: float, post_steps: int) -> Case:
        def run(model, prompt_ids):
            return run_generate(model, prompt_ids, block_length=block, steps=block, threshold=threshold,
                                editing_threshold=editing, max_post_steps=post_steps, eos_early_stop=True, **ids)

        options = {"gen_length": GEN_LENGTH, "block_length": block, "sampler": "edit", "edit_unmask_threshold": threshold,
                   "edit_threshold": editing, "edit_max_post_steps": post_steps}
        return Case(method="generate (LLaDA2.1, editing)", setting=f"gen={GEN_LENGTH} block={block} threshold={threshold} "
                    f"editing={editing} post_steps={post_steps}", options=options, reference=run,
                    reference_file="modeling_llada21_moe.py", load_model=load_causal_lm, prefix=True,
                    note="float32 block mask (:1329); eos_early_stop=True (:1420-1425)")

    return [case_21(*setting) for setting in SETTINGS_21] if version == "llada21" else \
        [case_20(*setting) for setting in SETTINGS_20]
