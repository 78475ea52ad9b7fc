"""Adapter for ML-GSAI/LLaDA's `generate.py` (the LLaDA paper's sampler).

    python benchmarks/reference_equivalence.py /work/refs/ML-GSAI__LLaDA /tmp/eq/llada

`generate(model, prompt, steps, gen_length, block_length, temperature, remasking)`: semi-
autoregressive blocks, each decoded in steps/num_blocks steps with LLaDA's quotas
(get_num_transfer_tokens), committing the positions of highest confidence
(`remasking='low_confidence'`) or of highest uniform noise (`remasking='random'`), proposals by
argmax or, at temperature > 0, by float64 Gumbel-max. Ours: `unmasking=confidence|random`,
`steps`, `block_length`, `temperature`.

The reference draws its noise from torch's global RNG in the shapes of its whole canvas: a
(1, L) uniform per step for the random order (generate.py:105), a (1, L, V) float64 uniform for
Gumbel noise (generate.py:17); our engine draws per prompt, at the block's masked positions only
(so that a prompt's draws do not depend on its batch). To compare tokens, the reference runs with
our engine's draws (`EngineDraws` as its module's `torch`); its other values never matter, as
positions after the block and committed ones get confidence -inf (generate.py:109, :112).

Not covered: `cfg_scale > 0` (our engine has no classifier-free guidance when decoding),
`logits_eos_inf` / `confidence_eos_eot_inf` (they hard-code LLaDA-8B's ids 126081/126348,
outside a tiny vocabulary; our `suppress_eos` is the same idea), and batched calls with an
attention mask (the reference runs one prompt at a time here; our engine batches all prompts).
"""

from __future__ import annotations

from pathlib import Path

import torch

from equivalence.common import GEN_LENGTH, Case, CountingModel, UNMASKING, engine_draws, import_file, reference_file

REFERENCE_FILE = "generate.py"
# (remasking, steps, block_length, temperature)
SETTINGS = (
    ("low_confidence", 32, 32, 0.0),  # one token per step, one block
    ("low_confidence", 16, 8, 0.0),  # 4 blocks, 2 tokens per step
    ("low_confidence", 12, 16, 0.0),  # uneven quotas: 3, 3, 3, 3, 2, 2 per block
    ("low_confidence", 8, 32, 0.0),  # 4 tokens per step
    ("low_confidence", 16, 8, 1.0),  # Gumbel-max sampling
    ("random", 32, 32, 0.0),
    ("random", 16, 8, 0.0),
    ("random", 12, 16, 0.5),
)


def detect(reference: Path) -> bool:
    """LLaDA's generate.py: the paper's sampler, without Fast-dLLM's cached variants (nor SDAR's generate.py)."""
    file = reference_file(reference, REFERENCE_FILE)
    if not file.is_file():
        return False
    text = file.read_text(encoding="utf-8")
    return ("def get_num_transfer_tokens" in text and "remasking" in text and "generate_with_prefix_cache" not in text
            and "def block_diffusion_generate" not in text)


def cases(reference: Path, model_dir: Path) -> list[Case]:
    module = import_file(reference_file(reference, REFERENCE_FILE), "llada_reference_generate")

    def case(remasking: str, steps: int, block_length: int, temperature: float) -> Case:
        def run(model, prompt_ids: list[int]) -> tuple[list[int], int]:
            counted = CountingModel(model)
            mask_id = model.config.mask_token_id
            with engine_draws(module, counted, mask_id, len(prompt_ids), block_length):
                out = module.generate(counted, torch.tensor([prompt_ids]), steps=steps, gen_length=GEN_LENGTH,
                                      block_length=block_length, temperature=temperature, remasking=remasking,
                                      mask_id=mask_id)
            return out[0, len(prompt_ids):].tolist(), counted.calls

        drawn = remasking == "random" or temperature > 0
        return Case(
            method=f"{remasking} remasking",
            setting=f"gen={GEN_LENGTH} steps={steps} block={block_length} T={temperature:g}",
            options={"gen_length": GEN_LENGTH, "unmasking": UNMASKING[remasking], "steps": steps,
                     "block_length": block_length, "temperature": temperature},
            reference=run,
            reference_file=REFERENCE_FILE,
            note="same draws: our engine's at the block's masks (generate.py:17, :105)" if drawn else "",
        )

    return [case(*setting) for setting in SETTINGS]
