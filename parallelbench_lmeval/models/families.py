"""Model families: how to find the special ids, load the weights and run one denoising pass.

- LLaDA / LLaDA 1.5: position i is predicted at i, 2-D attention mask (RoPE, so left
  padding only shifts absolute positions, which RoPE ignores).
- Dream / DiffuCoder: position i is predicted at i - 1 ("shifted"), a 4-D boolean
  attention mask and position ids counted from the first real token.
- Any Hugging Face masked LM (BERT, ModernBERT, ...): no shift, 2-D mask, position ids
  counted from the first real token so that left padding changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn


logger = logging.getLogger(__name__)

FAMILIES = ("llada", "dream", "masked_lm")

# SPEC §4 defaults, used when neither the config nor the tokenizer names the id.
FAMILY_DEFAULT_IDS = {
    "llada": {"mask_id": 126336, "eos_id": 126081, "eot_id": 126348},
    "dream": {"mask_id": 151666, "eos_id": 151643, "eot_token": "<|im_end|>"},
    "masked_lm": {},
}


def detect_family(config) -> str:
    model_type = str(getattr(config, "model_type", "")).lower()
    if model_type.startswith("llada"):
        return "llada"
    if model_type.startswith("dream"):
        return "dream"
    from transformers import MODEL_FOR_MASKED_LM_MAPPING

    if type(config) in MODEL_FOR_MASKED_LM_MAPPING:
        return "masked_lm"
    raise ValueError(
        f"cannot tell the diffusion family of model_type {model_type!r}; "
        f"pass family=<one of {', '.join(FAMILIES)}> in --model_args"
    )


@dataclass(frozen=True)
class SpecialIds:
    mask_id: int
    eos_id: int | None
    eot_id: int | None
    pad_id: int


def resolve_special_ids(
    family: str, config, tokenizer, overrides: dict[str, int | None], vocab_size: int | None = None
) -> SpecialIds:
    """model_args override > model config > tokenizer > family default (the defaults are the
    published models' ids: one beyond a smaller vocabulary does not apply)."""
    defaults = {
        name: value for name, value in FAMILY_DEFAULT_IDS[family].items()
        if not isinstance(value, int) or vocab_size is None or value < vocab_size
    }

    def first(*candidates):
        return next((int(c) for c in candidates if c is not None), None)

    eot_from_token = (
        tokenizer.convert_tokens_to_ids(defaults["eot_token"])
        if "eot_token" in defaults and defaults["eot_token"] in tokenizer.get_vocab()
        else None
    )
    mask_id = first(
        overrides.get("mask_id"), getattr(config, "mask_token_id", None), tokenizer.mask_token_id, defaults.get("mask_id")
    )
    if mask_id is None:
        raise ValueError("the model names no mask token; pass mask_id=<token id> in --model_args")
    eos_id = first(overrides.get("eos_id"), tokenizer.eos_token_id, getattr(config, "eos_token_id", None), defaults.get("eos_id"))
    eot_id = first(overrides.get("eot_id"), eot_from_token, defaults.get("eot_id"))
    pad_id = first(tokenizer.pad_token_id, eos_id, mask_id)
    return SpecialIds(mask_id=mask_id, eos_id=eos_id, eot_id=eot_id, pad_id=pad_id)


def _transformers_version() -> tuple[int, int]:
    import transformers

    major, minor = transformers.__version__.split(".")[:2]
    return int(major), int(minor)


def load_model(family: str, config, pretrained: str, revision: str | None, dtype: torch.dtype, trust_remote_code: bool) -> nn.Module:
    import transformers

    if family == "masked_lm":
        auto_class = transformers.AutoModelForMaskedLM
    elif "AutoModel" in (getattr(config, "auto_map", None) or {}):
        auto_class = transformers.AutoModel  # LLaDA's and Dream's remote code register their LM head model here
    else:
        auto_class = transformers.AutoModelForCausalLM  # the same architecture without remote code
    # transformers renamed torch_dtype to dtype in 4.56
    dtype_key = "dtype" if _transformers_version() >= (4, 56) else "torch_dtype"
    model = auto_class.from_pretrained(pretrained, revision=revision, trust_remote_code=trust_remote_code, **{dtype_key: dtype})
    return model.eval()
