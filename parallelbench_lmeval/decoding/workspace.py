"""Memory reused across the steps of one decode call.

A step's vocabulary-sized tensors (probabilities [rows, positions, vocabulary], in float64 for
several samplers) are the largest a decode allocates. On the CPU a fresh tensor larger than
glibc's mmap threshold (32 MB at most) is mapped anew and page-faulted at its first write, at
every step: at batch 8 on a 30k-token vocabulary that cost more than the softmax itself, and made
WINO and KLASS slower per prompt at batch 8 than at batch 1 (benchmarks/decoding.py, `samplers`).
A tensor taken from a `Workspace` is a view of a buffer kept for the whole call.
"""

from __future__ import annotations

import math

import torch


class Workspace:
    def __init__(self):
        self._buffers: dict[str, torch.Tensor] = {}

    def take(self, name: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
        """A contiguous tensor of `shape` with undefined contents, in `name`'s buffer (grown when
        too small): valid until `name` is taken again."""
        count = math.prod(shape)
        buffer = self._buffers.get(name)
        if buffer is None or buffer.numel() < count or buffer.dtype != dtype or buffer.device != torch.device(device):
            buffer = self._buffers[name] = torch.empty(count, dtype=dtype, device=device)
        return buffer[:count].view(shape)
