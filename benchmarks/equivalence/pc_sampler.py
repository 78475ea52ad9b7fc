"""Adapter for NEUIR/PC-Sampler's `src/generate.py`: PC-Sampler and its EB-Sampler.

    python benchmarks/tiny_checkpoints.py llada --code /work/refs/llada_hub --out /tmp/eq/llada
    python benchmarks/reference_equivalence.py /work/refs/NEUIR__PC-Sampler /tmp/eq/llada

`generate_with_pc_sampler(model, prompt, steps, gen_length, block_length, lambd, alpha,
baseline_name, remasking)`: LLaDA's top-k schedule per block, positions ordered by
exp(-lambd i) min(alpha, -c ln f(x0)), i the position in the block, f a token's frequency in a
reference corpus and c the confidence (`remasking='low_confidence'`) or a uniform number
(`remasking='random'`). Ours: `sampler=pc unmasking=confidence|random pc_lambda pc_alpha
pc_frequencies steps block_length`. Both read the same frequency table: ParallelBench-lmeval's
packaged LLaDA corpus counts, written in PC-Sampler's JSON format for the reference's
`load_baseline` (which our engine reads too, given the file).

`generate_with_eb_sampler(model, prompt, gamma, gen_length)`: EB-Sampler on the whole canvas,
masked positions by ascending entropy (nats), the longest prefix whose entropy minus its largest
stays within gamma, at least one. Ours: `sampler=eb unmasking=entropy eb_gamma` (one block).

Random order: the reference draws a (1, L) uniform from torch's global RNG per step
(generate.py:307); our engine draws one number per masked position of the block from the
prompt's own generator. The reference runs with `EngineDraws` as its module's `torch`, which puts
our engine's draws at those positions (every other value gets score -inf, generate.py:323).

No mask-logit suppression in this reference: the checkpoint never predicts [MASK] (its output
row is zero, see tiny_checkpoints.py), which our engine never proposes. Not covered: temperature
> 0, cfg_scale > 0, and the repository's other samplers (linear_position, entropy, margin, its
LLaDA ReMDM: ParallelBench's ReMDM is compared by the parallelbench adapter).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path

import torch

from equivalence.common import GEN_LENGTH, Case, CountingModel, UNMASKING, engine_draws, import_file, reference_file
from parallelbench_lmeval.decoding.frequencies import token_counts

REFERENCE_FILE = "src/generate.py"
# (lambda, alpha, steps, block_length): the evaluation scripts' lambda and alpha, the function's
# defaults (there the position term decides nearly alone), and a weak position term with a high
# clamp (there the calibrated score decides), over one to four blocks
PC_SETTINGS = ((0.25, 10.0, 32, 32), (1.0, 1.0, 16, 16), (0.05, 20.0, 16, 8))
# gamma in nats: the scripts' 0.01, the function's default 0.1, and a loose bound
EB_GAMMAS = (0.01, 0.1, 1.0)


def detect(reference: Path) -> bool:
    file = reference_file(reference, REFERENCE_FILE)
    return file.is_file() and "def generate_with_pc_sampler" in file.read_text(encoding="utf-8")


def frequency_table() -> Path:
    """The packaged LLaDA token counts as PC-Sampler's baseline JSON (its `load_baseline` format),
    in a file of this run's own."""
    total, counts = token_counts("llada")
    with tempfile.NamedTemporaryFile("w", prefix="pc_sampler_llada_", suffix=".json", delete=False) as file:
        json.dump({"num_token": total, "p_baseline_dict": counts}, file)
    return Path(file.name)


def cases(reference: Path, model_dir: Path) -> list[Case]:
    module = import_file(reference_file(reference, REFERENCE_FILE), "pc_sampler_reference_generate")
    table = str(frequency_table())

    def pc_case(remasking: str, lam: float, alpha: float, steps: int, block_length: int) -> Case:
        unmasking = UNMASKING[remasking]

        def run(model, prompt_ids: list[int]) -> tuple[list[int], int]:
            counted = CountingModel(model)
            mask_id = model.config.mask_token_id
            draws = engine_draws(module, counted, mask_id, len(prompt_ids), block_length)
            with draws if unmasking == "random" else contextlib.nullcontext():
                out = module.generate_with_pc_sampler(
                    counted, torch.tensor([prompt_ids]), steps=steps, gen_length=GEN_LENGTH, block_length=block_length,
                    lambd=lam, alpha=alpha, baseline_name=table, remasking=remasking, mask_id=mask_id)
            return out[0, len(prompt_ids):].tolist(), counted.calls

        return Case(
            method=f"PC-Sampler ({unmasking})",
            setting=f"gen={GEN_LENGTH} block={block_length} steps={steps} lambda={lam:g} alpha={alpha:g}",
            options={"gen_length": GEN_LENGTH, "sampler": "pc", "unmasking": unmasking, "pc_lambda": lam,
                     "pc_alpha": alpha, "pc_frequencies": table, "steps": steps, "block_length": block_length},
            reference=run,
            reference_file=REFERENCE_FILE,
            note="same draws: our engine's at the block's masks (generate.py:307)" if unmasking == "random" else "",
        )

    def eb_case(gamma: float) -> Case:
        def run(model, prompt_ids: list[int]) -> tuple[list[int], int]:
            counted = CountingModel(model)
            out = module.generate_with_eb_sampler(counted, torch.tensor([prompt_ids]), gamma=gamma,
                                                  gen_length=GEN_LENGTH, mask_id=model.config.mask_token_id)
            return out[0, len(prompt_ids):].tolist(), counted.calls

        return Case(
            method="EB-Sampler",
            setting=f"gen={GEN_LENGTH} gamma={gamma:g}",
            options={"gen_length": GEN_LENGTH, "sampler": "eb", "unmasking": "entropy", "eb_gamma": gamma},
            reference=run,
            reference_file=REFERENCE_FILE,
        )

    return [
        *(pc_case(remasking, *setting) for remasking in UNMASKING for setting in PC_SETTINGS),
        *(eb_case(gamma) for gamma in EB_GAMMAS),
    ]
