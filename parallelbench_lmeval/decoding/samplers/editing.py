"""LLaDA2.1's editing decoding (inclusionAI, 2026; the `generate` of its modeling_llada2_moe.py).

Each step predicts every position of the block. Masked positions are committed as by the
threshold rule (every one at or above `edit_unmask_threshold`, at least the most confident);
at the same time, tokens already committed in the block (not the prompt's) are replaced where the
model now predicts another token with probability above `edit_threshold`. Once the block has no
mask left, steps go on while they still edit something, at most `edit_max_post_steps` of them:
a block ends with one step that edits nothing (or when that budget is spent).

Differences from the reference, on purpose: the unmasking rule commits scores at or above the
threshold (the reference: strictly above; they differ only on exact ties), the mask token is
never proposed, and rows of a batch advance independently (the reference decodes one prompt).
"""

from __future__ import annotations

import torch

from parallelbench_lmeval.decoding import selection
from parallelbench_lmeval.decoding.samplers.base import Sampler
from parallelbench_lmeval.decoding.step import Block, Query, Step


def edited(confidence: torch.Tensor, proposal: torch.Tensor, window: torch.Tensor, editable: torch.Tensor,
           threshold: float) -> torch.Tensor:
    """Editable positions whose proposal differs from their token and is more probable than `threshold`."""
    return editable & (confidence > threshold) & (proposal != window)


class EditingSampler(Sampler):
    def __init__(self, config, batch_size, mask_id, device):
        super().__init__(config, batch_size, mask_id, device)
        self.unmask_threshold = config.value("edit_unmask_threshold")
        self.edit_threshold = config.value("edit_threshold")
        self.max_post_steps = config.value("edit_max_post_steps")

    def start_block(self, block: Block, canvas: torch.Tensor) -> None:
        zeros = torch.zeros(self.batch_size, dtype=torch.long, device=canvas.device)
        self.post_steps, self.done, self.full = zeros, zeros.bool(), zeros.bool()

    def rows(self, canvas: torch.Tensor, block: Block, index: int):
        self.full = ~(canvas[:, block.start : block.end] == self.mask_id).any(-1)
        self.post_steps = self.post_steps + (self.full & ~self.done).long()
        self.done |= self.post_steps > self.max_post_steps
        rows = (~self.done).nonzero().squeeze(-1)
        return rows if rows.numel() else None

    def query(self, canvas: torch.Tensor, rows: torch.Tensor, block: Block, index: int) -> Query:
        return Query(torch.arange(block.start, block.end, device=canvas.device).expand(canvas.shape[0], -1), block)

    def update(self, step: Step) -> torch.Tensor:
        rows = self.state_rows(step)
        scores = step.confidence.masked_fill(~step.candidates, float("-inf"))
        unmasked = selection.threshold(scores, step.candidates, self.unmask_threshold)
        editable = ~step.candidates
        if self.fixed is not None:
            editable &= ~self.fixed[rows].gather(1, step.positions)
        edits = edited(step.confidence, step.proposal, step.window, editable, self.edit_threshold)
        self.done[rows] |= self.full[rows] & ~edits.any(-1)
        return step.commit(unmasked | edits)
