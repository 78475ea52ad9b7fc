"""Block diffusion in the loop: rows whose blocks differ in length, rows that end, a block's first token.

Block-diffusion models (SDAR, TraDo, LLaDA2.x, Fast-dLLM v2) count their blocks from the
sequence's first token, so a row's canvas starts at the block that holds the last tokens of its
prompt: those tokens are already on the canvas (committed, never candidates), the masks follow,
up to the end of the block that holds the row's last position; past that the canvas is filled
(`models/block_diffusion.py` lays it out). `BlockDiffusionSampler` wraps any sampler whose rule
stays inside the current block and adds what the models' own generation functions do:

- a row takes no step in a block past its end or after it finished, nor, under a fixed schedule,
  in a block with no mask left (a short first block), so it spends no forward pass and its NFE
  does not grow;
- at the start of each attention block, a row whose generated tokens already hold an end token
  is finished: the rest of its canvas is filled (SDAR's `stopping_criteria_idx`, LLaDA2's EOS
  check after each block);
- for Fast-dLLM v2, a block's first token is committed alone, greedily, in a step of its own,
  from the prediction of the block before it (its token shift: the reference's pass that stores
  a finished block also writes the next block's first token).
"""

from __future__ import annotations

import torch

from parallelbench_lmeval.decoding.samplers.base import EVERY_ROW, Sampler
from parallelbench_lmeval.decoding.step import Block, Query, Step


class BlockDiffusionSampler:
    def __init__(self, inner: Sampler, attention_block: int, generated_from: torch.Tensor, ends: torch.Tensor,
                 stop_ids: list[int], fill_id: int, first_token_alone: bool = False):
        """`generated_from`, `ends` [B]: where each row's generated positions start and end on the canvas."""
        self.inner, self.attention_block = inner, attention_block
        self.generated_from, self.fill_id, self.first_token_alone = generated_from, fill_id, first_token_alone
        self.live_until = ends.clone()  # a row decodes blocks that start before this
        positions = torch.arange(int(ends.max()), device=ends.device)
        inner.fixed = positions < generated_from[:, None]
        self.stop_ids = torch.tensor(stop_ids, dtype=torch.long, device=generated_from.device)
        self.mask_id = inner.mask_id
        self.skipped = 0  # steps of this block the inner sampler does not see (the first-token step)
        self.alone = False  # whether the current step commits a block's first token alone

    @property
    def idle_passes(self) -> torch.Tensor:
        return self.inner.idle_passes

    @property
    def probability_dtype(self) -> torch.dtype:
        return self.inner.probability_dtype

    def blocks(self) -> list[Block]:
        return self.inner.blocks()

    def starts_attention_block(self, block: Block) -> bool:
        return block.start % self.attention_block == 0

    def start_block(self, block: Block, canvas: torch.Tensor) -> None:
        if block.start and self.starts_attention_block(block) and len(self.stop_ids):
            positions = torch.arange(block.start, device=canvas.device)
            generated = positions >= self.generated_from[:, None]
            ended = (torch.isin(canvas[:, : block.start], self.stop_ids) & generated).any(-1)
            canvas[:, block.start :] = canvas[:, block.start :].masked_fill(ended[:, None], self.fill_id)
            self.live_until = torch.where(ended, torch.clamp(self.live_until, max=block.start), self.live_until)
        self.skipped = 0
        self.inner.start_block(block, canvas)

    def rows(self, canvas: torch.Tensor, block: Block, index: int):
        self.alone = False
        if index == 0 and self.first_token_alone and self.starts_attention_block(block):
            first_masked = (canvas[:, block.start] == self.mask_id).nonzero().squeeze(-1)
            if first_masked.numel():
                self.alone, self.skipped = True, 1
                return first_masked
        chosen = self.inner.rows(canvas, block, index - self.skipped)
        if chosen is None:
            return None
        live = self.live_until > block.start
        if chosen is EVERY_ROW:  # a fixed schedule steps every row: only those with masks here
            rows = (live & (canvas[:, block.start : block.end] == self.mask_id).any(-1)).nonzero().squeeze(-1)
        else:
            rows = chosen[live[chosen]]
        return rows if rows.numel() else None

    def query(self, canvas: torch.Tensor, rows: torch.Tensor, block: Block, index: int) -> Query:
        if self.alone:
            return Query(torch.full((canvas.shape[0], 1), block.start, device=canvas.device), block)
        return self.inner.query(canvas, rows, block, index - self.skipped)

    def update(self, step: Step) -> torch.Tensor:
        if self.alone:  # greedy, as the reference writes it whatever the temperature
            return step.canvas.scatter(1, step.positions, step.probs.argmax(-1))
        step.index -= self.skipped
        return self.inner.update(step)
