"""SlowFast sampling (Wei et al., 2025, arXiv 2506.10848), as ParallelBench's slowfast_generate.py runs it.

A block is decoded in sub-cycles, each a slow phase and a fast phase:

- slow: `sf_exploration_steps` forward passes. Each estimates how far the sub-cycle reaches
  (one past the farthest masked position, from the sub-cycle's start, whose confidence
  reaches `sf_cycle_confidence_threshold`) until two consecutive estimates differ by at most
  one, and fills the masked positions from the sub-cycle's start to the block's end: all of
  those reaching `sf_high_confidence_threshold` if there are at least two, else the best one.
  Without two agreeing estimates, the sub-cycle ends at the floor of the mean of the last two.
- fast: fills the sub-cycle's masked positions the same way, one pass at a time, until none
  is left; the next sub-cycle starts where this one ended.

Each row follows this state machine on its own (phase, step, estimates), so rows of a
batch never wait for each other. The slow phase always spends its passes, even when the
block is full before they are over (at most 256 sub-cycles per block, as the reference): those
passes cannot change anything, so they are counted, as the reference counts them, but not run.

Differences from the reference, on purpose: the mask token is never proposed (as ParallelBench);
the SlowFast repository's own code also truncates the canvas after the sub-cycle from the
second fast step on, which ParallelBench does not do and neither does this sampler.
"""

from __future__ import annotations

import torch

from parallelbench_lmeval.decoding.samplers.base import Sampler
from parallelbench_lmeval.decoding.step import Block, Step

MAX_SUB_CYCLES = 256
PENDING, DONE = -1, -2  # phase values besides the slow step index (0..E-1) and FAST (= E)


def filled(confidence: torch.Tensor, scope: torch.Tensor, high: float) -> torch.Tensor:
    """The positions of `scope` at or above `high` when there are at least two, else the best one."""
    sure = scope & (confidence >= high)
    best = confidence.masked_fill(~scope, float("-inf")).argmax(-1, keepdim=True)
    only_best = torch.zeros_like(scope).scatter(-1, best, True) & scope
    return torch.where(sure.sum(-1, keepdim=True) > 1, sure, only_best)


class SlowFastSampler(Sampler):
    def __init__(self, config, batch_size, mask_id, device):
        super().__init__(config, batch_size, mask_id, device)
        self.exploration = config.value("sf_exploration_steps")
        self.cycle_threshold = config.value("sf_cycle_confidence_threshold")
        self.high_threshold = config.value("sf_high_confidence_threshold")

    def start_block(self, block: Block, canvas: torch.Tensor) -> None:
        zeros = torch.zeros(self.batch_size, dtype=torch.long, device=canvas.device)
        self.phase = torch.full_like(zeros, PENDING)
        self.start, self.end, self.cycles = zeros.clone(), zeros.clone(), zeros.clone()  # block offsets
        self.estimate = torch.full_like(zeros, -1)  # the previous estimate of this sub-cycle (-1: none yet)
        self.settled = torch.zeros_like(zeros, dtype=torch.bool)

    def rows(self, canvas: torch.Tensor, block: Block, index: int):
        offsets = torch.arange(block.length, device=canvas.device)
        masked = canvas[:, block.start : block.end] == self.mask_id
        block_left = masked.sum(-1)
        region_left = (masked & (offsets >= self.start[:, None]) & (offsets < self.end[:, None])).sum(-1)
        fast = self.phase == self.exploration
        # a finished fast phase ends the sub-cycle; a new one starts while the block has masks
        self.start = torch.where(fast & (region_left == 0), self.end, self.start)
        self.phase = torch.where(fast & (region_left == 0), PENDING, self.phase)
        starting = self.phase == PENDING
        begins = starting & (block_left > 0) & (self.cycles < MAX_SUB_CYCLES)
        self.cycles += begins.long()
        self.estimate = torch.where(begins, -1, self.estimate)
        self.settled &= ~begins
        self.end = torch.where(begins, block.length, self.end)
        self.phase = torch.where(begins, 0, torch.where(starting, DONE, self.phase))
        # a slow phase in a full block cannot change anything: its passes are counted, not run
        exploring = (self.phase >= 0) & (self.phase < self.exploration)
        idle = exploring & (block_left == 0)
        self.idle_passes += torch.where(idle, self.exploration - self.phase, 0)
        self.phase = torch.where(idle, DONE, self.phase)
        rows = (self.phase >= 0).nonzero().squeeze(-1)
        if rows.numel() == 0:
            return None
        self.width = int(block_left[rows].max())
        return rows

    def update(self, step: Step) -> torch.Tensor:
        rows = self.state_rows(step)
        phase, start, end = self.phase[rows], self.start[rows], self.end[rows]
        offsets, candidates, confidence = step.offsets, step.candidates, step.confidence
        slow = phase < self.exploration
        # slow: estimate the sub-cycle's end (candidates all lie at or after its start)
        reaching = candidates & (confidence >= self.cycle_threshold)
        farthest = torch.where(reaching, offsets, -1).max(-1).values
        increment = torch.where(farthest >= 0, farthest - start + 1, 1)
        estimate = (start + increment).clamp(min=1, max=step.block.length)
        previous = self.estimate[rows]
        estimating = slow & ~self.settled[rows]
        agree = estimating & (previous >= 0) & ((estimate - previous).abs() < 2)
        last_step = estimating & (phase == self.exploration - 1)
        fallback = torch.where(previous >= 0, torch.div(previous + estimate, 2, rounding_mode="floor"), estimate)
        end = torch.where(agree, estimate, torch.where(last_step & ~agree, fallback, end))
        self.settled[rows] |= agree
        self.estimate[rows] = torch.where(estimating, estimate, previous)
        # fill: the rest of the block while exploring, the sub-cycle's region when fast
        scope = candidates & (slow.unsqueeze(-1) | (offsets < end.unsqueeze(-1)))
        chosen = filled(confidence, scope, self.high_threshold)
        phase = phase + slow.long()
        self.end[rows] = torch.where(phase == self.exploration, end.clamp(min=1, max=step.block.length), end)
        self.phase[rows] = phase
        return step.commit(chosen)
