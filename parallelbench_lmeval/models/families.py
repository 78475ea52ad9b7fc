"""Model families: how to find the special ids, load the weights and run one denoising pass.

- LLaDA / LLaDA 1.5: position i is predicted at i, 2-D attention mask (RoPE, so left
  padding only shifts absolute positions, which RoPE ignores).
- Dream / DiffuCoder: position i is predicted at i - 1 ("shifted"), a 4-D boolean
  attention mask and position ids counted from the first real token.
- Any Hugging Face masked LM (BERT, ModernBERT, ...): no shift, 2-D mask, position ids
  counted from the first real token so that left padding changes nothing.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass

import torch
from torch import nn

from parallelbench_lmeval.decoding.loop import gather_positions

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


def resolve_special_ids(family: str, config, tokenizer, overrides: dict[str, int | None]) -> SpecialIds:
    """model_args override > model config > tokenizer > family default."""
    defaults = FAMILY_DEFAULT_IDS[family]

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


class _WindowedHead(nn.Module):
    """The model's output projection, applied to chosen positions only.

    Only the masked positions of the current block need logits; projecting every position
    of the prompt onto the vocabulary is most of the cost of a small model (PERFORMANCE.md).
    """

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head
        self.positions: torch.Tensor | None = None  # [B, P]; None = every position

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.head(hidden if self.positions is None else gather_positions(hidden, self.positions))


class DenoisingForward:
    """One forward pass of a loaded model, returning logits at chosen positions only."""

    def __init__(self, model: nn.Module, family: str):
        self.model = model
        self.family = family
        self.shift = 1 if family == "dream" else 0
        self.takes_position_ids = "position_ids" in inspect.signature(model.forward).parameters
        self.head: _WindowedHead | None = None
        self.head = self._install_windowed_head()

    def _install_windowed_head(self) -> _WindowedHead | None:
        head = self.model.get_output_embeddings() if hasattr(self.model, "get_output_embeddings") else None
        if not isinstance(head, nn.Linear):
            return None
        for module in self.model.modules():
            for child_name, child in module.named_children():
                if child is head:
                    windowed = _WindowedHead(head)
                    setattr(module, child_name, windowed)
                    if self._windowed_head_agrees(windowed):
                        return windowed
                    setattr(module, child_name, head)
                    logger.warning("%s: output projection cannot be windowed; computing full logits", type(self.model).__name__)
                    return None
        return None

    @torch.no_grad()
    def _windowed_head_agrees(self, windowed: _WindowedHead) -> bool:
        """Checks once, on a short input, that the windowed head gives the full head's logits."""
        device = next(self.model.parameters()).device
        ids = torch.arange(1, 9, device=device).unsqueeze(0) % max(2, windowed.head.out_features)
        attention = torch.ones_like(ids)
        positions = torch.tensor([[5, 3, 6]], device=device)
        try:
            full = gather_positions(self._logits(ids, attention, None), positions)
            self.head = windowed
            part = self._logits(ids, attention, positions)
        except Exception as error:  # a model whose forward needs the full logits shape
            logger.debug("windowed head check failed: %s", error)
            return False
        finally:
            windowed.positions = None
            self.head = None
        return part.shape == full.shape and torch.allclose(part.float(), full.float(), atol=1e-3, rtol=1e-3)

    def _logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor | None) -> torch.Tensor:
        kwargs = {}
        if self.family == "dream":
            keys = attention_mask.bool()[:, None, None, :]
            kwargs["attention_mask"] = keys.expand(-1, 1, input_ids.shape[1], -1)
        else:
            kwargs["attention_mask"] = attention_mask
        if self.takes_position_ids and self.family != "llada":
            kwargs["position_ids"] = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        if self.head is not None:
            self.head.positions = positions
            return self.model(input_ids, **kwargs).logits
        logits = self.model(input_ids, **kwargs).logits
        return logits if positions is None else gather_positions(logits, positions)

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Logits [B, P, V] predicting `positions` [B, P] of `input_ids` (shifted families read one earlier)."""
        return self._logits(input_ids, attention_mask, positions - self.shift)
