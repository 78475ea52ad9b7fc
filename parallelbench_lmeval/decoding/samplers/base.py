"""What every sampler provides to the loop (`decoding/loop.py`).

The loop owns the canvas, the forward passes and the NFE count; a sampler decides, for each
step of a block, which rows still decode, which positions they need predictions for, and
what the predictions change. Per-row state (a KL history, tokens that may be revoked, a
phase) lives in the sampler, indexed by batch row, so rows advance independently and a row
never depends on the others of its batch.
"""

from __future__ import annotations

import torch

from parallelbench_lmeval.decoding.config import DecodingConfig
from parallelbench_lmeval.decoding.schedule import block_schedule
from parallelbench_lmeval.decoding.step import Block, Query, Step, masked_query

# `rows()` result: every row of the batch steps, known without looking at the canvas (no host sync)
EVERY_ROW = "every row"


class Sampler:
    # the precision of the probabilities the sampler's reference computes its confidences in
    probability_dtype = torch.float32
    # [B, G] canvas positions that are input, not output (a block-diffusion row's prompt tail), for
    # samplers that change committed tokens; None: every position is output
    fixed: torch.Tensor | None = None
    # each row's prompt length, where the decoder knows it (`unmask`): for samplers that reproduce a
    # reference's whole-sequence arithmetic
    prompt_lengths: list[int] | None = None

    def __init__(self, config: DecodingConfig, batch_size: int, mask_id: int, device: torch.device | str):
        self.config, self.batch_size, self.mask_id, self.device = config, batch_size, mask_id, device
        # forward passes the reference spends that cannot change the output: counted, not run
        self.idle_passes = torch.zeros(batch_size, dtype=torch.long, device=device)

    def blocks(self) -> list[Block]:
        return block_schedule(self.config)

    def start_block(self, block: Block, canvas: torch.Tensor) -> None:
        """Resets per-block state; `canvas` [B, G] is the whole batch."""

    def rows(self, canvas: torch.Tensor, block: Block, index: int):
        """The rows that take step `index` of `block`: EVERY_ROW, a tensor of row ids, or None
        when the block is done for every row."""
        raise NotImplementedError

    def query(self, canvas: torch.Tensor, rows: torch.Tensor, block: Block, index: int) -> Query:
        """What the step needs predicted, for the rows' canvases `canvas` [R, G]."""
        return masked_query(canvas, block, self.mask_id, self.width)

    def update(self, step: Step) -> torch.Tensor:
        """The rows' canvases after the step."""
        raise NotImplementedError

    def masked_rows(self, canvas: torch.Tensor, block: Block, start: int | None = None):
        """Rows with a mask in [start, block end) (one host sync): their ids, or None if there are
        none; sets `width`, the most masks a row has there (how many positions to query), and
        `row_masks`, the masks of each row returned."""
        start = block.start if start is None else start
        left = (canvas[:, start : block.end] == self.mask_id).sum(-1)
        counts = left.tolist()
        self.width = max(counts)
        self.row_masks = [n for n in counts if n]
        if self.width == 0:
            return None
        return torch.tensor([row for row, n in enumerate(counts) if n], device=canvas.device)

    def state_rows(self, step: Step) -> torch.Tensor:
        """Index of the step's rows into per-row state tensors."""
        return step.rows
