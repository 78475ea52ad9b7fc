"""Remasking samplers, which take back committed tokens (paper Appendix F.3).

RCR, running-confidence remasking (He et al., 2025; ParallelBench's generate_rcr.py, from the
MDPO code): every step fills all masked positions up to the end of the current block, then
masks again the tokens of lowest stored confidence anywhere in the canvas (earlier blocks
included) until the masks left match a linear MaskGIT schedule. A token's stored confidence
is the one it had when last filled; positions never filled count as 1.

ReMDM for LLaDA, as the paper ran it (ParallelBench's generate_remdm.py, after
guanghanwang/ReMDM-LLaDA): the top-k schedule of the block, with `remdm_steps` revision steps
inserted once 7/8 of the block is decoded; a revision step masks again the `remdm_number`
tokens of the block committed with the lowest confidence, then commits `remdm_number` tokens.

Differences from the references, on purpose: ReMDM takes back only tokens of the current
block (the reference can remask prompt or earlier tokens when the block has fewer committed
tokens than `remdm_number`), ties between equal stored confidences go to the lower position,
and the mask token is never proposed.
"""

from __future__ import annotations

import torch

from parallelbench_lmeval.decoding import selection
from parallelbench_lmeval.decoding.samplers.base import EVERY_ROW, Sampler
from parallelbench_lmeval.decoding.schedule import maskgit_linear_counts, revision_plan
from parallelbench_lmeval.decoding.step import Block, Query, Step, masked_positions


def lowest(values: torch.Tensor, count: int, eligible: torch.Tensor) -> torch.Tensor:
    """[R, N] the `count` eligible entries of lowest value per row (lower position first on ties)."""
    order = values.masked_fill(~eligible, float("inf")).argsort(dim=-1, stable=True)
    return eligible & (selection.rank(order) < count)


class RunningConfidenceSampler(Sampler):
    """RCR."""

    def __init__(self, config, batch_size, mask_id, device):
        super().__init__(config, batch_size, mask_id, device)
        self.stored = torch.zeros(batch_size, config.gen_length, device=device)  # 0 = never filled

    def start_block(self, block: Block, canvas: torch.Tensor) -> None:
        self.counts = maskgit_linear_counts(block.length, self.config.steps_per_block())

    def rows(self, canvas: torch.Tensor, block: Block, index: int):
        return EVERY_ROW if index < len(self.counts) else None

    def query(self, canvas: torch.Tensor, rows: torch.Tensor, block: Block, index: int) -> Query:
        # every mask up to the block's end: the schedule's remaining tokens, on every row
        width = sum(self.counts[index:])
        return Query(masked_positions(canvas[:, : block.end], self.mask_id, width), block)

    def update(self, step: Step) -> torch.Tensor:
        rows = self.state_rows(step)
        canvas = step.commit(step.candidates)
        stored = self.stored[rows].scatter(
            1, step.positions, torch.where(step.candidates, step.confidence.float(), self.stored[rows].gather(1, step.positions))
        )
        self.stored[rows] = stored
        later = sum(self.counts[step.index + 1 :])
        if later:
            running = torch.where(stored == 0, torch.ones_like(stored), stored)
            canvas = canvas.masked_fill(lowest(running, later, torch.ones_like(stored, dtype=torch.bool)), self.mask_id)
        return canvas


class RemaskingDiffusionSampler(Sampler):
    """ReMDM."""

    probability_dtype = torch.float64

    def start_block(self, block: Block, canvas: torch.Tensor) -> None:
        counts = block.step_counts
        self.plan = revision_plan(len(counts), self.config.value("remdm_steps"), block.length)
        fills = iter(counts)
        number = self.config.value("remdm_number")
        self.commits = [number if revision else next(fills) for revision in self.plan]
        self.stored = torch.full((self.batch_size, block.length), float("inf"), dtype=torch.float64,
                                 device=canvas.device)
        self.masks_left = block.length

    def rows(self, canvas: torch.Tensor, block: Block, index: int):
        if index == len(self.plan):
            return None
        self.width = self.masks_left
        return EVERY_ROW

    def update(self, step: Step) -> torch.Tensor:
        rows, offsets = self.state_rows(step), step.offsets
        scores = step.confidence.masked_fill(~step.candidates, float("-inf"))
        chosen = selection.top_k(scores, step.candidates, self.commits[step.index])
        canvas = step.commit(chosen)
        stored = self.stored[rows].scatter(1, offsets, torch.where(chosen, step.confidence, self.stored[rows].gather(1, offsets)))
        self.masks_left -= self.commits[step.index]
        if step.index + 1 < len(self.plan) and self.plan[step.index + 1]:
            # the next step revises: take back the block's least confident tokens first
            block = step.block
            committed = canvas[:, block.start : block.end] != self.mask_id
            number = min(self.config.value("remdm_number"), int(committed.sum(-1).min()))
            again = lowest(stored, number, committed)
            stored = stored.masked_fill(again, float("inf"))
            canvas[:, block.start : block.end] = canvas[:, block.start : block.end].masked_fill(again, self.mask_id)
            self.masks_left += number
        self.stored[rows] = stored
        return canvas
