"""Adapter for Feng-Hong/WINO-DLLM's `LLaDA/decoding.py` (`decoding_wino`, the original WINO).

    python benchmarks/tiny_checkpoints.py llada --code /work/refs/llada_hub --out /tmp/eq/llada
    python benchmarks/reference_equivalence.py /work/refs/Feng-Hong__WINO-DLLM /tmp/eq/llada

`decoding_wino(model, prompt, gen_length, block_length, threshold, threshold_back)` decodes each
block on a canvas extended by a copy of the block: every step accepts the masked positions whose
confidence exceeds `threshold` (at least one, at most clamp(0.7 x masks, 5, 20)) and, after a step
that accepted several, revokes committed tokens whose probability in the copy, where their own
position is hidden, is below `threshold_back`. Ours: `sampler=wino wino_canvas=extended`.

The reference calls the model with a 4-D boolean attention mask and position ids, which the hub's
LLaDA forward does not take: it runs with WINO-DLLM's own `LLaDA/modeling_llada.py` (which does),
loaded with the checkpoint's weights. No mask-logit suppression: the checkpoint never predicts
[MASK] (its output row is zero, see tiny_checkpoints.py), which our engine never proposes.

Not covered: temperature > 0 (the reference draws (1, L, V) Gumbel noise over its extended canvas;
greedy decoding is what the comparison is for) and the MMaDA variant of the repository.
"""

from __future__ import annotations

from pathlib import Path

import torch

from equivalence.common import GEN_LENGTH, Case, CountingModel, import_file

REFERENCE_FILE = "LLaDA/decoding.py"
# (threshold, threshold_back, block_length): the paper's defaults, then a stricter accept with a
# laxer revoke and a laxer accept with a stricter revoke, over several blocks (the revocation state
# restarts at each). On the tiny checkpoint every setting revokes tokens (hundreds over 10 prompts).
SETTINGS = (
    (0.6, 0.9, 32),
    (0.8, 0.7, 16),
    (0.5, 0.95, 8),
)


def reference_folder(reference: Path) -> Path:
    """The repository's `LLaDA` folder, from the repository, that folder or decoding.py."""
    if reference.is_file():
        return reference.parent
    return reference if (reference / "decoding.py").is_file() else reference / "LLaDA"


def detect(reference: Path) -> bool:
    file = reference_folder(reference) / "decoding.py"
    return file.is_file() and "def decoding_wino" in file.read_text(encoding="utf-8")


def load_wino_model(folder: Path):
    """The checkpoint's weights in WINO-DLLM's LLaDA class (position ids and 4-D masks), float32."""
    def load(model_dir: Path):
        # its modeling file imports `configuration_llada` from its own folder (import_file puts it first)
        modeling = import_file(folder / "modeling_llada.py", "wino_reference_modeling_llada")
        return modeling.LLaDAModelLM.from_pretrained(model_dir, dtype=torch.float32).eval()

    return load


def cases(reference: Path, model_dir: Path) -> list[Case]:
    folder = reference_folder(reference)
    module = import_file(folder / "decoding.py", "wino_reference_decoding")
    loader = load_wino_model(folder)

    def case(threshold: float, threshold_back: float, block_length: int) -> Case:
        def run(model, prompt_ids: list[int]) -> tuple[list[int], int]:
            counted = CountingModel(model)
            out, steps = module.decoding_wino(counted, torch.tensor([prompt_ids]), gen_length=GEN_LENGTH,
                                              block_length=block_length, mask_id=model.config.mask_token_id,
                                              threshold=threshold, threshold_back=threshold_back)
            counted.check_reported(steps, "decoding_wino")
            return out[0, len(prompt_ids):].tolist(), steps

        return Case(
            method="WINO (wide canvas)",
            setting=f"gen={GEN_LENGTH} block={block_length} threshold={threshold:g} back={threshold_back:g}",
            options={"gen_length": GEN_LENGTH, "sampler": "wino", "wino_canvas": "extended",
                     "wino_threshold": threshold, "wino_threshold_back": threshold_back,
                     "block_length": block_length},
            reference=run,
            reference_file=REFERENCE_FILE,
            load_model=loader,
        )

    return [case(*setting) for setting in SETTINGS]
