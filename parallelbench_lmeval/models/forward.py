"""One forward pass of a loaded model: logits at chosen positions, under a chosen attention pattern.

Two ways to run a model, behind one interface (`ModelForward`):

- `StackForward` (LLaDA, LLaDA-MoE, Dream/DiffuCoder, the block-diffusion families): the layers
  run by `models/stack.py`, with position ids, any boolean attention mask, and key/value caches;
- `OwnForward` (any masked LM, and the fallback when a model's layers do not match the stack):
  the model's own forward, with its output layer applied only to the positions asked for.

A pass gets `ids` [R, T], their `positions` (RoPE / position ids) [R, T], which keys are real
(`keys` [R, K], False for left padding) and optionally a `structure` [T, K] of allowed
attention shared by the rows (WINO's extended canvas); `hidden_at` [R, P] are the indices into
the T inputs whose outputs are projected onto the vocabulary. With a `workspace` (a decode
call's reused memory, decoding/workspace.py) the stack writes its logits there; the model's own
forward allocates them.
"""

from __future__ import annotations

import inspect
import logging

import torch
from torch import nn

from parallelbench_lmeval.decoding.step import gather_positions
from parallelbench_lmeval.models.families import FAMILY_SPECS
from parallelbench_lmeval.models.stack import STACKS, KeyValues, Stack

logger = logging.getLogger(__name__)


def boolean_mask(keys: torch.Tensor, structure: torch.Tensor | None, queries: int) -> torch.Tensor | None:
    """[R, 1, T, K] attention allowed (None when everything is: the fastest kernels)."""
    if structure is None and bool(keys.all()):
        return None
    allowed = keys[:, None, None, :].expand(-1, 1, queries, -1)
    return allowed & structure if structure is not None else allowed


class ModelForward:
    shift = 0  # logits for position i are read at i - shift (1 for Dream's shifted predictions)
    caches = False  # whether `cache`/`slot`/`keep` are supported

    def __call__(self, ids, positions, keys, hidden_at, structure=None, cache=None, slot=None, keep=0, workspace=None):
        raise NotImplementedError


class StackForward(ModelForward):
    caches = True

    def __init__(self, stack: Stack, shift: int):
        self.stack, self.shift = stack, shift

    def __call__(self, ids, positions, keys, hidden_at, structure=None, cache=None, slot=None, keep=0, workspace=None):
        hidden, kept = self.stack(ids, positions, boolean_mask(keys, structure, ids.shape[1]), cache, slot, keep)
        return self.stack.logits(hidden, hidden_at, workspace), kept


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


class OwnForward(ModelForward):
    """The model's own forward pass (masks in the family's convention), windowed output layer."""

    def __init__(self, model: nn.Module, family: str):
        self.model, self.family = model, family
        self.convention = FAMILY_SPECS[family].attention_mask
        self.shift = FAMILY_SPECS[family].shift
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
        ids, positions, keys = probe_inputs(self.model, windowed.head.out_features)
        at = torch.tensor([[5, 3, 6]], device=ids.device)
        try:
            full = gather_positions(self.full_logits(ids, positions, keys), at)
            self.head = windowed
            part, _ = self(ids, positions, keys, at)
        except Exception as error:  # a model whose forward needs the full logits shape
            logger.debug("windowed head check failed: %s", error)
            return False
        finally:
            windowed.positions = None
            self.head = None
        return part.shape == full.shape and torch.allclose(part.float(), full.float(), atol=1e-3, rtol=1e-3)

    def _kwargs(self, ids, positions, keys, structure) -> dict:
        kwargs = {}
        if self.convention != "padding":  # a 4-D mask, always: without one a Qwen-style model attends causally
            mask = boolean_mask(keys, structure, ids.shape[1])
            mask = mask if mask is not None else keys[:, None, None, :].expand(-1, 1, ids.shape[1], -1)
            if self.convention == "additive":
                mask = torch.zeros(mask.shape, dtype=self.model.dtype, device=mask.device).masked_fill(~mask, float("-inf"))
            kwargs["attention_mask"] = mask
        elif structure is None:
            kwargs["attention_mask"] = keys.long()
        elif self.family == "llada":  # LLaDA's forward takes a structured pattern as a boolean attention bias
            kwargs["attention_bias"] = boolean_mask(keys, structure, ids.shape[1])
        else:  # BERT-style masked LMs read a [R, T, K] 0/1 mask
            kwargs["attention_mask"] = (keys[:, None, :] & structure).long()
        if self.takes_position_ids and self.family != "llada":
            kwargs["position_ids"] = positions
        return kwargs

    def full_logits(self, ids, positions, keys, structure=None) -> torch.Tensor:
        return self.model(ids, **self._kwargs(ids, positions, keys, structure)).logits

    def __call__(self, ids, positions, keys, hidden_at, structure=None, cache=None, slot=None, keep=0, workspace=None):
        if cache is not None or keep:
            raise ValueError(f"{type(self.model).__name__}: key/value caching needs layers the engine runs (models/stack.py)")
        if self.head is not None:
            self.head.positions = hidden_at
            return self.full_logits(ids, positions, keys, structure), None
        return gather_positions(self.full_logits(ids, positions, keys, structure), hidden_at), None


def probe_inputs(model: nn.Module, vocab_size: int):
    """A short unpadded input for load-time checks."""
    device = next(model.parameters()).device
    ids = torch.arange(1, 9, device=device).unsqueeze(0) % max(2, vocab_size)
    return ids, torch.arange(8, device=device).unsqueeze(0), torch.ones_like(ids, dtype=torch.bool)


@torch.no_grad()
def build_forward(model: nn.Module, family: str) -> ModelForward:
    """The stack forward for the families with one when it reproduces the model's own logits on a probe
    input (checked once); otherwise, and for masked LMs, the model's own forward."""
    own = OwnForward(model, family)
    stack_class = STACKS.get(family)
    if stack_class is None:
        return own
    if not stack_class.supports(model):
        logger.warning("%s: layers not recognised as %s's; using its own forward (no key/value cache)",
                       type(model).__name__, family)
        return own
    stack = StackForward(stack_class(model), own.shift)
    ids, positions, keys = probe_inputs(model, getattr(model.config, "vocab_size", 2))
    at = torch.arange(8, device=ids.device).unsqueeze(0)
    expected = gather_positions(own.full_logits(ids, positions, keys).float(), at)
    logits, _ = stack(ids, positions, keys, at)
    # rounding differs between the two computations: compare relative to the size of the logits
    tolerance = 1e-4 if next(model.parameters()).dtype == torch.float32 else 2e-2
    scale = expected.abs().max().clamp(min=1.0).item()
    if not torch.allclose(logits.float(), expected, atol=tolerance * scale, rtol=tolerance):
        logger.warning("%s: its layers run one by one do not reproduce its logits (max difference %.3g); "
                       "using its own forward (no key/value cache)", type(model).__name__,
                       (logits.float() - expected).abs().max().item())
        return own
    return stack


__all__ = ["KeyValues", "ModelForward", "OwnForward", "StackForward", "build_forward"]
