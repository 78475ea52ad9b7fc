"""The unmasking loop: proposal x score x selection x block schedule.

One call decodes a whole batch. Each step is one call of `denoise` (one NFE) for the rows
that still have masks in the current block; rows whose block is full wait without a
forward pass, and a block with no mask left is never run. Logits, proposals and scores are
computed only at the masked positions of the current block: the vocabulary-sized work of a
step shrinks as the block fills.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import torch

from parallelbench_lmeval.decoding import selection
from parallelbench_lmeval.decoding.config import DecodingConfig
from parallelbench_lmeval.decoding.noise import RowNoise, Uniform
from parallelbench_lmeval.decoding.proposal import propose
from parallelbench_lmeval.decoding.schedule import block_schedule
from parallelbench_lmeval.decoding.scores import SCORES

# denoise(canvas[rows, G], rows, positions[rows, P]) -> logits[rows, P, V] at those canvas positions,
# a tensor the loop may overwrite (it fills the forbidden ids in place rather than copying it)
Denoiser = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def gather_positions(values: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """values[b, positions[b, p], :] -> [B, P, D]: what a denoiser returns from full-canvas values."""
    return values.gather(1, positions.unsqueeze(-1).expand(-1, -1, values.shape[-1]))


@dataclass
class DecodeResult:
    tokens: torch.Tensor  # [B, G] the decoded canvas
    nfe: torch.Tensor  # [B] forward passes each row took part in


def select_rule(config: DecodingConfig) -> Callable[[torch.Tensor, torch.Tensor, int | None], torch.Tensor]:
    """(scores, candidates, step_count) -> positions to commit."""
    if config.threshold is not None:
        return lambda scores, candidates, _: selection.threshold(scores, candidates, config.threshold)
    if config.factor is not None:
        return lambda scores, candidates, _: selection.factor(scores, candidates, config.factor)
    return selection.top_k


def commit_step(
    logits: torch.Tensor,
    window: torch.Tensor,
    count: int | None,
    config: DecodingConfig,
    mask_id: int,
    forbidden_ids: torch.Tensor,
    uniform: Uniform,
) -> torch.Tensor:
    """One step: `window` [rows, P] (the canvas at the positions `logits` [rows, P, V] are for)
    with the selected masks filled in."""
    logits.index_fill_(-1, forbidden_ids, float("-inf"))
    probs = logits.float().softmax(-1)
    proposal = propose(logits, probs, config.temperature, uniform)
    candidates = window == mask_id
    scores = SCORES[config.score](probs, proposal, uniform).masked_fill(~candidates, float("-inf"))
    chosen = select_rule(config)(scores, candidates, count)
    return torch.where(chosen, proposal, window)


def masked_positions(window: torch.Tensor, mask_id: int, count: int) -> torch.Tensor:
    """The first `count` positions of each row, masked ones first in ascending order (rows
    with fewer masks are padded with committed positions, which are never candidates)."""
    committed_first_last = (window != mask_id).to(torch.int8)
    return committed_first_last.sort(dim=-1, stable=True).indices[:, :count]


def unmask(
    denoise: Denoiser,
    batch_size: int,
    config: DecodingConfig,
    mask_id: int,
    device: torch.device | str = "cpu",
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
    forbidden_ids: Sequence[int] = (),
) -> DecodeResult:
    """Decodes `batch_size` canvases of `config.gen_length` masks; `forbidden_ids` are never
    proposed (the mask id always is forbidden). `generator`: one for the batch, or one per row
    (then each row's sampling and random order do not depend on the other rows)."""
    canvas = torch.full((batch_size, config.gen_length), mask_id, dtype=torch.long, device=device)
    nfe = torch.zeros(batch_size, dtype=torch.long, device=device)
    all_rows = torch.arange(batch_size, device=device)
    forbidden = torch.tensor([mask_id, *(i for i in forbidden_ids if i != mask_id)], device=device)
    noise = RowNoise(generator, device)
    step = partial(commit_step, config=config, mask_id=mask_id, forbidden_ids=forbidden)

    for block in block_schedule(config):
        masks_left = block.end - block.start  # per row, while the schedule is fixed
        for count in block.step_counts or itertools.repeat(None):
            if count is not None:  # fixed schedule: every row has the same number of masks left here
                rows, row_ids, view, width = all_rows, range(batch_size), canvas, masks_left
                masks_left -= count
            else:  # adaptive: the one host sync per step decides which rows go on, and how wide
                left = (canvas[:, block.start : block.end] == mask_id).sum(-1).tolist()
                width = max(left)
                if width == 0:
                    break
                row_ids = [row for row, n in enumerate(left) if n]
                rows = torch.tensor(row_ids, device=device)
                view = canvas[rows]
            positions = block.start + masked_positions(view[:, block.start : block.end], mask_id, width)
            logits = denoise(view, rows, positions)
            committed = step(logits, view.gather(1, positions), count, uniform=noise.for_rows(row_ids))
            canvas[rows] = view.scatter(1, positions, committed)
            nfe[rows] += 1
    return DecodeResult(tokens=canvas, nfe=nfe)
