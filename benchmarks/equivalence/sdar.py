"""Adapter for JetAstra/SDAR's `generate.py` (SDAR's own block-diffusion generation), on SDAR's or
TraDo's modeling file.

    python benchmarks/tiny_checkpoints.py sdar --code PATH/TO/JetAstra/SDAR/training/model/SDAR-4B-Chat --out /tmp/eq/sdar
    python benchmarks/reference_equivalence.py PATH/TO/JetAstra/SDAR /tmp/eq/sdar
    python benchmarks/tiny_checkpoints.py sdar --code PATH/TO/Gen-Verse/dLLM-RL/models/sdar --out /tmp/eq/trado
    python benchmarks/reference_equivalence.py PATH/TO/JetAstra/SDAR /tmp/eq/trado

`block_diffusion_generate(model, prompt, mask_id, gen_length, block_length, denoising_steps, ...,
remasking_strategy, confidence_threshold, stopping_criteria_idx)`: blocks counted from the prompt's
first token, the prompt's full blocks prefilled into a DynamicCache, each block decoded in at most
`denoising_steps` steps attending to the cache and itself, then run once more to store it
(`store_kv=True`, generate.py:121-128); generation stops after a block once a stop id appears
(:199). `low_confidence_static` commits the step's quota of LLaDA's schedule by confidence (our
`k`), `low_confidence_dynamic` every position above the threshold when they are at least the
quota, else the quota by confidence (with one token per step, our `threshold`), `sequential` the
first masked positions (ours: `unmasking=left_to_right`). The model is the checkpoint's own
SDARForCausalLM (its file loaded with dllm's flash-attn and LossKwargs stand-ins,
`parallelbench_lmeval/models/compat.py`); the reference gets our engine's stop ids.

Deliberate differences:
- TraDo's modeling file indexes the attention mask as 4-D (dLLM-RL models/sdar/modeling_sdar.py:313-318)
  while generate.py passes [1, L, L] (:85-86); the adapter adds the head dimension for both files.
- greedy: the reference always samples (`torch.multinomial`, generate.py:43; at temperature 0 it
  divides the logits by zero, :35-36); it runs at temperature 1 with a `multinomial` that takes the
  most probable token, so its confidences are the softmax probabilities, as ours at temperature 0.
- NFE: the reference's prefill pass and its pass that stores a finished block (:101-106, :121-128)
  predict nothing; our engine stores a block on the next block's first step. The NFE compared is
  the reference's denoising passes (`store_kv=False`, :132-137); ParallelBench's copy
  (`block_diffusion_utils.py`) counts the others too, so its SDAR tokens per step are lower.
- threshold ties: `confidence > threshold` (:172), ours `>=`; only exact ties differ.
- Not run: quotas above one token per step with `low_confidence_static`/`dynamic`: when a block has
  fewer masks than the quota (the first block, which holds the prompt's last tokens), `topk` over
  the block picks committed positions and overwrites them (:163-166, :176-179; ours commits masked
  positions only); `entropy_bounded` (:180-190), which computes the entropy of one probability per
  position and leaves `transfer_index` undefined.
Tokens compared: what the reference decoded after the prompt (whole blocks, so past gen_length
when the last block ends later), against the same positions of ours.
"""

from __future__ import annotations

from pathlib import Path

import torch

from equivalence.common import GEN_LENGTH, Case, CountingModel, engine_backend, import_file, reference_file

REFERENCE_FILE = "generate.py"
# (remasking_strategy, block_length, threshold or None): one token per step in every case
SETTINGS = (
    ("low_confidence_static", 4, None),
    ("low_confidence_dynamic", 4, 0.85),  # generate.py's defaults
    ("low_confidence_dynamic", 4, 0.5),
    ("low_confidence_static", 8, None),
    ("low_confidence_dynamic", 8, 0.7),
    ("sequential", 4, None),
)


def detect(reference: Path) -> bool:
    file = reference_file(reference, REFERENCE_FILE)
    return file.is_file() and "def block_diffusion_generate" in file.read_text(encoding="utf-8") \
        and "low_confidence_dynamic" in file.read_text(encoding="utf-8")


def load_causal_lm(folder: Path):
    """The checkpoint's own model with its language-model head, float32 on the CPU."""
    import transformers

    from parallelbench_lmeval.models.compat import published_code_loads

    with published_code_loads():
        model = transformers.AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True, dtype=torch.float32)
    return model.eval()


class DenoisingPasses(CountingModel):
    """Counts the passes that predict (not the prefill and store passes, `store_kv=True`). Gives the
    model generate.py's [1, L, L] attention masks with a head dimension: TraDo's file indexes them as
    4-D (dLLM-RL models/sdar/modeling_sdar.py:313-318), as ParallelBench's copy of the loop provides."""

    def __call__(self, *args, **kwargs):
        mask = kwargs.get("attention_mask")
        if mask is not None and mask.dim() == 3:
            kwargs["attention_mask"] = mask[:, None]
        result = self.model(*args, **kwargs)
        self.calls += not kwargs.get("store_kv", False)
        return result


class GreedyTorch:
    """`torch` for generate.py with a `multinomial` that takes the most probable token."""

    def __getattr__(self, name):
        return getattr(torch, name)

    @staticmethod
    def multinomial(probs, num_samples=1):
        return probs.argmax(-1, keepdim=True)


def decoded_after_prompt(x: torch.Tensor, prompt_length: int, mask_id: int, block: int) -> list[int]:
    """The reference's tokens after the prompt, up to the end of the last block it decoded."""
    tokens = x[0].tolist()
    end = len(tokens)
    while end - block >= prompt_length and all(t == mask_id for t in tokens[end - block : end]):
        end -= block
    return tokens[prompt_length:end]


def cases(reference: Path, model_dir: Path) -> list[Case]:
    module = import_file(reference_file(reference, REFERENCE_FILE), "sdar_reference_generate")
    module.torch = GreedyTorch()
    stop_ids = engine_backend(model_dir).stop_ids

    def case(strategy: str, block: int, threshold: float | None) -> Case:
        def run(model, prompt_ids: list[int]) -> tuple[list[int], int]:
            counted = DenoisingPasses(model)
            mask_id = model.config.mask_token_id
            x = module.block_diffusion_generate(
                counted, {"input_ids": torch.tensor([prompt_ids])}, mask_id, gen_length=GEN_LENGTH,
                block_length=block, denoising_steps=block, temperature=1.0, remasking_strategy=strategy,
                confidence_threshold=threshold if threshold is not None else 0.85, stopping_criteria_idx=stop_ids)
            return decoded_after_prompt(x, len(prompt_ids), mask_id, block), counted.calls

        options = {"gen_length": GEN_LENGTH, "block_length": block, "k": 1}
        if strategy == "low_confidence_dynamic":
            options = {"gen_length": GEN_LENGTH, "block_length": block, "threshold": threshold}
        elif strategy == "sequential":
            options = {"gen_length": GEN_LENGTH, "unmasking": "left_to_right", "k": 1}
        rule = f" threshold={threshold}" if threshold is not None else ""
        return Case(
            method=strategy,
            setting=f"gen={GEN_LENGTH} block={block} steps={block}{rule}",
            options=options,
            reference=run,
            reference_file=REFERENCE_FILE,
            load_model=load_causal_lm,
            note="greedy multinomial; NFE without the prefill and store passes (generate.py:43, :101-106, :121-128)",
            prefix=True,
        )

    return [case(*setting) for setting in SETTINGS]
