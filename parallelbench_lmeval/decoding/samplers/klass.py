"""KLASS: KL-adaptive stability sampling (Kim et al., 2025, arXiv 2511.05664), as ParallelBench runs it.

A masked position is "ready" when its confidence exceeds `klass_conf_threshold` and the KL
divergence between its predictive distributions of consecutive steps stayed below
`klass_kl_threshold` for the last `klass_kl_history` steps. A step commits every ready
position; when none is, it falls back to the top-k schedule (`k`/`steps`, one token per
step by default). The distributions and KL histories are kept per row and block position
(float64, as the reference) and start from zero at each block, so the first KL of a block is
against nothing (about 27.6 nats) and a position is ready at the block's third step at the
earliest (ParallelBench's llada/klass_generate.py; the KLASS repository keeps them across
blocks, which differs from the second block on).

Differences from the reference, on purpose: the fallback commits only masked positions (the
reference can overwrite decoded tokens when its schedule asks for more than remain) and the
mask token is never proposed (as ParallelBench, unlike the KLASS repository).
"""

from __future__ import annotations

import torch

from parallelbench_lmeval.decoding import selection
from parallelbench_lmeval.decoding.samplers.base import Sampler
from parallelbench_lmeval.decoding.step import Block, Step

EPSILON = 1e-12  # the reference's guard inside both logarithms


def guarded_log(probs: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """log(p + eps), the reference's guarded logarithm (into `out` when given)."""
    return torch.add(probs, EPSILON, out=out).log_()


def kl_divergence(current: torch.Tensor, log_current: torch.Tensor, log_previous: torch.Tensor) -> torch.Tensor:
    """sum_v q (log(q + eps) - log(p + eps)) over the last dimension, from the guarded logarithms
    of q (`current`) and p; `log_previous` is overwritten (vocabulary-sized: no fresh tensor)."""
    return torch.sub(log_current, log_previous, out=log_previous).mul_(current).sum(-1)


class KlassSampler(Sampler):
    probability_dtype = torch.float64

    def __init__(self, config, batch_size, mask_id, device):
        super().__init__(config, batch_size, mask_id, device)
        self.conf_threshold = config.value("klass_conf_threshold")
        self.kl_threshold = config.value("klass_kl_threshold")
        self.history_length = config.value("klass_kl_history")
        self.previous: torch.Tensor | None = None

    def start_block(self, block: Block, canvas: torch.Tensor) -> None:
        # [B, block length, V]: log(p + eps) of each position's previous distribution (p = 0 before the
        # block's first step), allocated at the first step (V known then); keeping the logarithm
        # rather than p, a step takes one logarithm of its distributions, not two
        self.previous = None
        self.history = torch.zeros(self.batch_size, block.length, self.history_length, dtype=torch.float64,
                                   device=canvas.device)

    def rows(self, canvas: torch.Tensor, block: Block, index: int):
        if index == len(block.step_counts):
            return None  # the reference's step budget: what is still masked stays masked
        return self.masked_rows(canvas, block)

    def update(self, step: Step) -> torch.Tensor:
        shape, device, workspace = step.probs.shape, step.probs.device, step.workspace
        if self.previous is None:
            self.previous = guarded_log(torch.zeros(self.batch_size, step.block.length, shape[-1], dtype=torch.float64,
                                                    device=device))
        rows, offsets = self.state_rows(step).unsqueeze(-1), step.offsets
        history = self.history[rows, offsets].roll(-1, dims=-1)
        log_current = guarded_log(step.probs, out=workspace.take("klass log q", shape, torch.float64, device))
        # previous[rows, offsets], gathered into the workspace
        log_previous = workspace.take("klass log p", shape, torch.float64, device)
        torch.index_select(self.previous.flatten(0, 1), 0, (rows * step.block.length + offsets).flatten(),
                           out=log_previous.view(-1, shape[-1]))
        history[..., -1] = kl_divergence(step.probs, log_current, log_previous)
        self.history[rows, offsets] = history
        self.previous[rows, offsets] = log_current
        stable = (history < self.kl_threshold).all(-1) & (step.index >= self.history_length - 1)
        ready = stable & (step.confidence > self.conf_threshold) & step.candidates
        scores = step.confidence.masked_fill(~step.candidates, float("-inf"))
        fallback = selection.top_k(scores, step.candidates, step.block.step_counts[step.index])
        return step.commit(torch.where(ready.any(-1, keepdim=True), ready, fallback))
