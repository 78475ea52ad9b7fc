"""Model families: how to recognise a checkpoint, find its special ids, load it and decode it.

Full diffusion (every position attends to every other):
- LLaDA / LLaDA 1.5 (and distilled LLaDA checkpoints): position i is predicted at i, RoPE.
- LLaDA-MoE (`lladamoe`): LLaDA's conventions on a mixture-of-experts transformer.
- Dream / DiffuCoder: position i is predicted at i - 1 ("shifted"), a 4-D boolean attention mask
  and position ids counted from the first real token.
- Any Hugging Face masked LM (BERT, ModernBERT, ...): no shift.

Block diffusion (bidirectional inside a block, causal across blocks; blocks counted from the
sequence's first token, so a prompt's last partial block is completed by the first generated
tokens, as the models' own generation functions do):
- SDAR and TraDo (`sdar`, Qwen3 layers, trained block length in `config.block_size`);
- LLaDA2.0 / LLaDA2.1 (`llada2_moe`, mixture of experts, trained with blocks of 32);
- Fast-dLLM v2 (`Fast_dLLM_Qwen`, Qwen2.5 layers, shifted like Dream, attention blocks of
  `config.bd_size` decoded in sub-blocks; a block's first token is predicted by the block
  before it and committed alone, as its generation function does).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
from torch import nn


logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Family:
    name: str
    models: str  # the published checkpoints it covers, for messages and docs
    model_types: tuple[str, ...] = ()  # config.model_type values, lower case
    architectures: tuple[str, ...] = ()  # config.architectures / auto_map class names
    shift: int = 0  # logits for position i are read at i - shift
    # how its own forward takes attention: "padding" (a 2-D 0/1 mask), "boolean" (a 4-D boolean mask;
    # without one a Qwen-style model attends causally), "additive" (a 4-D float mask of 0 and -inf)
    attention_mask: str = "padding"
    # SPEC §4 and the hub configs' ids, used when neither the config nor the tokenizer names one
    default_ids: dict = field(default_factory=dict)
    # block diffusion: the trained block length (an int, or the config field that holds it)
    trained_block: int | str | None = None
    # `block_length` picks decoding sub-blocks inside fixed attention blocks (Fast-dLLM v2) rather
    # than the attention block itself
    sub_blocks: bool = False
    default_sub_block: int | None = None
    # a block's first token is committed alone, from the block before it (Fast-dLLM v2's token shift)
    first_token_alone: bool = False

    @property
    def block_causal(self) -> bool:
        return self.trained_block is not None

    def trained_block_length(self, config) -> int | None:
        if isinstance(self.trained_block, str):
            return int(getattr(config, self.trained_block))
        return self.trained_block


QWEN_IDS = {"eot_token": "<|im_end|>"}
LING_IDS = {"mask_id": 156895, "eos_id": 156892, "eot_token": "<|role_end|>"}

FAMILY_SPECS = {
    family.name: family
    for family in (
        Family("llada", "LLaDA, LLaDA 1.5, distilled LLaDA checkpoints", ("llada",), ("LLaDAModelLM",),
               default_ids={"mask_id": 126336, "eos_id": 126081, "eot_id": 126348}),
        Family("llada_moe", "LLaDA-MoE-7B-A1B", ("lladamoe",), ("LLaDAMoEModelLM",), default_ids=LING_IDS),
        Family("dream", "Dream, DiffuCoder, distilled Dream checkpoints", ("dream",), ("DreamModel",), shift=1,
               attention_mask="boolean", default_ids={"mask_id": 151666, "eos_id": 151643, **QWEN_IDS}),
        Family("masked_lm", "any Hugging Face masked LM: BERT, ModernBERT, ..."),
        Family("sdar", "SDAR-1.7B/4B/8B-Chat, TraDo-4B/8B", ("sdar",), ("SDARForCausalLM",), attention_mask="boolean",
               default_ids={"mask_id": 151669, "eos_id": 151643, **QWEN_IDS}, trained_block="block_size"),
        Family("llada2", "LLaDA2.0-mini/flash, LLaDA2.1-mini/flash", ("llada2_moe", "llada21_moe"),
               ("LLaDA2MoeModelLM",), attention_mask="additive", default_ids=LING_IDS, trained_block=32),
        Family("fast_dllm_v2", "Fast-dLLM v2 1.5B and 7B", ("fast_dllm_qwen",), ("Fast_dLLM_QwenForCausalLM",),
               shift=1, attention_mask="boolean", default_ids={"mask_id": 151665, "eos_id": 151645, **QWEN_IDS},
               trained_block="bd_size", sub_blocks=True, default_sub_block=8, first_token_alone=True),
    )
}
FAMILIES = tuple(FAMILY_SPECS)
BLOCK_FAMILIES = tuple(name for name, family in FAMILY_SPECS.items() if family.block_causal)
FAMILY_DEFAULT_IDS = {name: family.default_ids for name, family in FAMILY_SPECS.items()}


def _class_names(config) -> set[str]:
    names = set(getattr(config, "architectures", None) or ())
    names |= {str(target).rsplit(".", 1)[-1] for target in (getattr(config, "auto_map", None) or {}).values()}
    return names


def known_families() -> str:
    return "; ".join(f"{name} ({family.models})" for name, family in FAMILY_SPECS.items())


def detect_family(config) -> str:
    """The family of a checkpoint from its config: the class names of `architectures` and `auto_map`
    first (LLaDA-MoE's hub config says model_type "llada", as dense LLaDA's does, and only its
    classes tell them apart), then model_type, then transformers' masked-LM mapping."""
    model_type = str(getattr(config, "model_type", "")).lower()
    classes = _class_names(config)
    for name, family in FAMILY_SPECS.items():
        if classes & set(family.architectures):
            return name
    for name, family in FAMILY_SPECS.items():
        if model_type in family.model_types:
            return name
    if model_type.startswith("llada"):  # other LLaDA variants keep LLaDA's layers
        return "llada"
    if model_type.startswith("dream"):
        return "dream"
    from transformers import MODEL_FOR_MASKED_LM_MAPPING

    if type(config) in MODEL_FOR_MASKED_LM_MAPPING:
        return "masked_lm"
    raise ValueError(
        f"cannot tell the diffusion family of model_type {model_type!r} (architectures: "
        f"{', '.join(sorted(classes)) or 'none'}); known families: {known_families()}. "
        f"Pass family=<one of {', '.join(FAMILIES)}> in --model_args"
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


def load_model(family: str, config, pretrained: str, revision: str | None, dtype: torch.dtype, trust_remote_code: bool,
               device_map: str | None = None) -> nn.Module:
    """The model with its output layer. `device_map="auto"` spreads its layers over the visible
    accelerators (and the CPU) with accelerate, as lm-eval's `hf` model does with `parallelize=True`."""
    import transformers

    from parallelbench_lmeval.models.compat import published_code_loads

    auto_map = getattr(config, "auto_map", None) or {}
    if family == "masked_lm":
        auto_class = transformers.AutoModelForMaskedLM
    elif "AutoModelForCausalLM" in auto_map or "AutoModel" not in auto_map:
        auto_class = transformers.AutoModelForCausalLM  # SDAR, LLaDA2, Fast-dLLM v2 map their bare body to AutoModel
    else:
        auto_class = transformers.AutoModel  # Dream's remote code registers its LM head model here only
    # transformers renamed torch_dtype to dtype in 4.56
    dtype_key = "dtype" if _transformers_version() >= (4, 56) else "torch_dtype"
    placement = {"device_map": device_map} if device_map else {}
    with published_code_loads():
        model = auto_class.from_pretrained(pretrained, revision=revision, trust_remote_code=trust_remote_code,
                                           **{dtype_key: dtype}, **placement)
    return model.eval()
