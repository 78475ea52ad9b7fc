"""Adapter for the benchmark's own Dream decoding: `sample_block`, as ParallelBench's DreamModel runs it.

    python benchmarks/tiny_checkpoints.py dream --code /work/refs/dream_hub --out /tmp/eq/dream
    python benchmarks/reference_equivalence.py /work/refs/furiosa-ai__ParallelBench /tmp/eq/dream  # the refactor
    python benchmarks/reference_equivalence.py /work/refs/ParallelBench-paper /tmp/eq/dream --kind parallelbench_dream

REFERENCE_PATH is a checkout of furiosa-ai/ParallelBench: the paper's code release
(`model/dream_model_utils.py`) or the refactor (`parallelbench/models/local/dream/dream_model_utils.py`);
the adapter takes the file that is there (the paper's when both are). Its `sample_block` replaces Dream's
`_sample` whenever a block length or a threshold is set (paper `model/dream_model.py` `patch_model`;
refactor `dream_model.py` `patch_model`), which every released Dream and DiffuCoder configuration does,
with `eps = 0` (both `DreamModel.__init__`s default it to 0 and pass it to `diffusion_generate`). The
generation config handed to it here is the one `diffusion_generate` builds from DreamModel's keyword
arguments: steps, eps 0, alg, alg_temp 0, temperature 0, top_p and top_k None.

What the cases show: top-k (`alg` maskgit_plus/confidence_topk, topk_margin, entropy/entropy_topk) with
k = 1, 2, 4 over one block and blocks of 8 decodes on the reference's own step counts
(int(masks * (1 - s/t)) on float32 timesteps, uneven and sometimes 0: our `schedule=dream`, the Dream
family's default), token-identical with equal NFE; and the threshold rule (the best position and every
other at >= the threshold) at 0.9, 0.7 and 0.5.

Differences that the settings do not reach: the reference proposes the mask token when the model rates it
highest (Dream's wrapper patches no logits; ours never proposes it: the tiny checkpoint, like a trained
model, never rates it highest); its negative entropy is sum p log(p + 1e-10) (dream_model_utils.py
`sample_tokens`), ours sum p log p, equal to float32 rounding except for near-zero probabilities; and
`torch.topk` picks among exactly tied scores in an order of its own (ours: the lower position first). The
factor rule's off-by-one (the reference commits every position when only the last rank fails,
`sample_block`'s `top_i == len(threshs) - 1` branch) is reproduced with `compat=parallelbench` only.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import SimpleNamespace

import torch

from equivalence.common import GEN_LENGTH, Case, import_file

FILES = {  # the paper's code release first: its `alg` names are the leaderboard configurations'
    "paper": "model/dream_model_utils.py",
    "refactor": "parallelbench/models/local/dream/dream_model_utils.py",
}
# our `unmasking` -> the reference's `alg`, per layout
ALGS = {
    "paper": {"confidence": "maskgit_plus", "margin": "topk_margin", "entropy": "entropy"},
    "refactor": {"confidence": "confidence_topk", "margin": "topk_margin", "entropy": "entropy_topk"},
}
TOKENS_PER_STEP = (1, 2, 4)
BLOCKS = (GEN_LENGTH, 8)
THRESHOLDS = (0.9, 0.7, 0.5)
FACTORS = (0.7, 1.0, 1.9)  # the released sweeps' range
COMPAT = {"compat": "parallelbench"}


def layout(reference: Path) -> str | None:
    return next((name for name, relative in FILES.items() if (reference / relative).is_file()), None)


def detect(reference: Path) -> bool:
    """The paper's code release (the refactor is the parallelbench adapter's, which runs these cases too)."""
    return reference.is_dir() and layout(reference) == "paper"


def sample_block_case(sample_block, model_dir: Path, unmasking: str, alg: str, block: int, reference_file: str,
                      k: int | None = None, threshold: float | None = None, factor: float | None = None,
                      options: dict | None = None, note: str = "") -> Case:
    """One setting of `sample_block` (top-k with `k` tokens per step, or a threshold, or a factor rule)."""
    steps = GEN_LENGTH // k if k is not None else None

    def run(model, prompt_ids: list[int]) -> tuple[list[int], int]:
        generation_config = SimpleNamespace(
            output_history=False, return_dict_in_generate=False, max_length=len(prompt_ids) + GEN_LENGTH,
            mask_token_id=model.config.mask_token_id, steps=steps, eps=0, temperature=0.0, top_p=None, top_k=None,
            alg=alg, alg_temp=0.0)
        calls = []
        forward = model.forward
        model.forward = lambda *args, **kwargs: calls.append(1) or forward(*args, **kwargs)
        try:
            sample = functools.partial(sample_block, model, block_length=block, threshold=threshold, factor=factor)
            out = sample(torch.tensor([prompt_ids]), None, generation_config)
        finally:
            del model.forward
        return out[0, len(prompt_ids):].tolist(), len(calls)

    rule = f"k={k}" if k is not None else (f"threshold={threshold:g}" if threshold is not None else f"factor={factor:g}")
    ours = {"gen_length": GEN_LENGTH, "unmasking": unmasking, "block_length": block, **(options or {})}
    ours.update({"k": k} if k is not None else {"threshold": threshold} if threshold is not None else {"factor": factor})
    # controls: top-k on even counts, a factor rule without compat's released rule
    control = {"schedule": "even"} if k is not None else {"compat": None} if "compat" in ours else None
    return Case(f"Dream sample_block, {unmasking}", f"gen={GEN_LENGTH} block={block} {rule}", ours, run,
                reference_file, note=note, control=control)


def sample_block_cases(reference: Path, model_dir: Path) -> list[Case]:
    name = layout(reference)
    sample_block = import_file(reference / FILES[name], f"parallelbench_{name}_dream_model_utils").sample_block
    cases = [sample_block_case(sample_block, model_dir, unmasking, alg, block, FILES[name], k=k)
             for unmasking, alg in ALGS[name].items() for k in TOKENS_PER_STEP for block in BLOCKS]
    cases += [sample_block_case(sample_block, model_dir, "confidence", ALGS[name]["confidence"], 8, FILES[name],
                                threshold=threshold) for threshold in THRESHOLDS]
    # the factor rule's off-by-one: reproduced by compat=parallelbench (without it these differ)
    cases += [sample_block_case(sample_block, model_dir, "confidence", ALGS[name]["confidence"], block, FILES[name],
                                factor=factor, options=COMPAT, note="compat=parallelbench (the released factor rule)")
              for factor in FACTORS for block in BLOCKS]
    return cases


def cases(reference: Path, model_dir: Path) -> list[Case]:
    return sample_block_cases(reference, model_dir)
