"""Loading the published modeling files under the installed transformers, with or without CUDA-only packages.

Two things in SDAR's and TraDo's `modeling_sdar.py` stop them from loading on a machine without
flash-attn, or under transformers >= 4.54 (ParallelBench's `models/local/{sdar,trado}/README.md`
found both):

- `from transformers.utils import LossKwargs`: a TypedDict used only in type hints, which
  transformers removed; an empty one is put back while the model loads;
- `from flash_attn.ops.triton.layer_norm import rms_norm_fn` (every RMS norm) and, for attention
  with nothing masked, `flash_attn_func`: when flash-attn is not installed, a module with these two
  functions written in torch (same arguments, same arithmetic in float32) stands in while the file is
  imported; the modeling module keeps the functions it imported, and the stand-in is removed again.

Nothing is patched when the real packages are there.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import sys
import types
from typing import TypedDict

import torch
import torch.nn.functional as F


def rms_norm_fn(x, weight, bias=None, residual=None, eps=1e-6, **unused):
    """flash-attn's fused RMS norm (without its residual and dropout variants), computed in float32."""
    if residual is not None:
        raise NotImplementedError("the flash-attn stand-in has no fused residual")
    normed = x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + eps) * weight.float()
    if bias is not None:
        normed = normed + bias.float()
    return normed.to(x.dtype)


def flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False, **unused):
    """flash-attn's attention on [batch, length, heads, head dim] tensors (grouped key/value heads allowed)."""
    out = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), dropout_p=dropout_p, is_causal=causal,
        scale=softmax_scale, enable_gqa=q.shape[2] != k.shape[2],
    )
    return out.transpose(1, 2)


def _module(name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    module.__dict__.update(attributes)
    return module


def _flash_attn_stand_in() -> dict[str, types.ModuleType]:
    return {
        "flash_attn": _module("flash_attn", flash_attn_func=flash_attn_func),
        "flash_attn.ops": _module("flash_attn.ops"),
        "flash_attn.ops.triton": _module("flash_attn.ops.triton"),
        "flash_attn.ops.triton.layer_norm": _module("flash_attn.ops.triton.layer_norm", rms_norm_fn=rms_norm_fn),
    }


@contextlib.contextmanager
def published_code_loads():
    """While the block runs: `transformers.utils.LossKwargs` exists, and `flash_attn` imports (the
    real package if installed, else the stand-in above)."""
    import transformers.utils

    added_loss_kwargs = not hasattr(transformers.utils, "LossKwargs")
    if added_loss_kwargs:
        transformers.utils.LossKwargs = TypedDict("LossKwargs", {}, total=False)
    stand_in = {} if importlib.util.find_spec("flash_attn") is not None else _flash_attn_stand_in()
    sys.modules.update(stand_in)
    try:
        yield
    finally:
        for name in stand_in:
            sys.modules.pop(name, None)
        if added_loss_kwargs:
            del transformers.utils.LossKwargs
