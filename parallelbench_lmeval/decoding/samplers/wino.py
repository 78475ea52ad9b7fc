"""WINO: wide-in, narrow-out revocable decoding (Hong et al., 2025, arXiv 2507.18578).

Each step accepts every masked position of the block whose confidence exceeds
`wino_threshold` (at least the best one, at most clamp(int(0.7 x masks), 5, 20)) and, when
it accepted more than one, takes back committed tokens of the block that the model now
doubts: those whose verification probability falls below `wino_threshold_back` (all of
them, or the last_accept - 1 least probable when there are at least last_accept, where
last_accept is what the previous step accepted, 30 at the start of a block).

The verification probability of a committed token, with `wino_canvas=extended` (WINO-DLLM's
decoding.py): the model's probability of that token at its position, predicted from a copy
of the block appended to the canvas in which the position alone is hidden (the loop asks for
it with a mirror query; the model builds the extended canvas, its attention mask and position
ids). With `wino_canvas=plain` (ParallelBench's wino_generate.py, which produced the public
leaderboard's `wino` rows): the probability of the model's top prediction at the committed,
visible position.

Differences from the references, on purpose: the mask token is never proposed (SPEC §4;
ParallelBench does the same, WINO-DLLM does not), rows of a batch advance independently,
and a block stops after 20 x its length steps (the reference has no bound; a warning says
so if a block ever reaches it).
"""

from __future__ import annotations

import logging

import torch

from parallelbench_lmeval.decoding.samplers.base import Sampler
from parallelbench_lmeval.decoding.selection import rank
from parallelbench_lmeval.decoding.step import Block, Query, Step, masked_query

logger = logging.getLogger(__name__)

INITIAL_LAST_ACCEPT = 30
STEP_BOUND_PER_TOKEN = 20


def max_accept(masked: torch.Tensor) -> torch.Tensor:
    """min(max(int(0.7 n), 5), 20) per row, with int() of the float64 product as the reference."""
    return (masked.double() * 0.7).floor().long().clamp(min=5, max=20)


def accepted(confidence: torch.Tensor, candidates: torch.Tensor, threshold: float) -> torch.Tensor:
    """Candidates above the threshold (strictly), capped at max_accept, at least the best one."""
    above = candidates & (confidence > threshold)
    limit = max_accept(candidates.sum(-1)).unsqueeze(-1)
    order = rank(confidence.masked_fill(~candidates, float("-inf")).argsort(dim=-1, descending=True, stable=True))
    count = above.sum(-1, keepdim=True)
    return torch.where(count > limit, candidates & (order < limit), torch.where(count == 0, candidates & (order == 0), above))


def revoked(verification: torch.Tensor, tracked: torch.Tensor, back: float, last_accept: torch.Tensor) -> torch.Tensor:
    """Tracked tokens whose verification probability is below `back` (strictly); when at least
    `last_accept` are, only the last_accept - 1 least probable."""
    below = tracked & (verification < back)
    order = rank(verification.masked_fill(~tracked, float("inf")).argsort(dim=-1, stable=True))
    keep = (last_accept - 1).clamp(min=0).unsqueeze(-1)
    return torch.where(below.sum(-1, keepdim=True) >= last_accept.unsqueeze(-1), tracked & (order < keep), below)


class WinoSampler(Sampler):
    probability_dtype = torch.float64  # both references compute confidences in float64

    def __init__(self, config, batch_size, mask_id, device):
        super().__init__(config, batch_size, mask_id, device)
        self.extended = config.value("wino_canvas") == "extended"
        self.threshold = config.value("wino_threshold")
        self.threshold_back = config.value("wino_threshold_back")

    def start_block(self, block: Block, canvas: torch.Tensor) -> None:
        self.tracked = canvas[:, block.start : block.end] != self.mask_id  # tokens the block may revoke
        self.last_accept = torch.full((self.batch_size,), INITIAL_LAST_ACCEPT, device=canvas.device)

    def rows(self, canvas: torch.Tensor, block: Block, index: int):
        if index == STEP_BOUND_PER_TOKEN * block.length:
            logger.warning("wino: block [%d, %d) still had masks after %d steps; left as they are",
                           block.start, block.end, index)
            return None
        return self.masked_rows(canvas, block)

    def query(self, canvas: torch.Tensor, rows: torch.Tensor, block: Block, index: int) -> Query:
        # masked positions may be accepted, committed ones revoked: on the extended canvas their
        # verification comes from the mirror, so only the masked ones are asked for besides it
        if self.extended:
            return masked_query(canvas, block, self.mask_id, self.width, mirror=True)
        positions = torch.arange(block.start, block.end, device=canvas.device).expand(canvas.shape[0], -1)
        return Query(positions, block)

    def update(self, step: Step) -> torch.Tensor:
        rows, block = self.state_rows(step), step.block
        tracked, last_accept = self.tracked[rows], self.last_accept[rows]
        accept = accepted(step.confidence, step.candidates, self.threshold)
        window = step.canvas[:, block.start : block.end]
        if self.extended:
            verification = step.mirror_probs.gather(-1, window.unsqueeze(-1)).squeeze(-1)
        else:
            verification = step.confidence
        count = accept.sum(-1)
        revoke = revoked(verification, tracked, self.threshold_back, last_accept) & (count > 1).unsqueeze(-1)
        self.tracked[rows] = (tracked | torch.zeros_like(tracked).scatter(1, step.offsets, accept)) & ~revoke
        self.last_accept[rows] = count
        canvas = step.commit(accept)
        canvas[:, block.start : block.end].masked_fill_(revoke, self.mask_id)
        return canvas
