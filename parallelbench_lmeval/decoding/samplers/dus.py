"""DUS: the dilated unmasking scheduler (Luxembourg et al., 2025, arXiv 2506.19037).

A block is decoded in coarse-to-fine groups of positions that are far apart (for 8 tokens
and base 2: offsets {0, 4}, {2, 6}, {1, 3, 5, 7}), one forward pass per group, so that the
tokens committed together depend little on each other; log_base(block length) + 1 passes per
block. Every group but the last keeps only the tokens whose confidence reaches
`dus_remasking_threshold`; the others are masked again and, as in the reference (DUS's
generate.py and ParallelBench's dus_generate.py), never revisited: they stay masked and drop
out of the decoded text.
"""

from __future__ import annotations

import torch

from parallelbench_lmeval.decoding.samplers.base import EVERY_ROW, Sampler
from parallelbench_lmeval.decoding.schedule import dilated_levels
from parallelbench_lmeval.decoding.step import Block, Query, Step


class DilatedSampler(Sampler):
    probability_dtype = torch.float64

    def start_block(self, block: Block, canvas: torch.Tensor) -> None:
        self.levels = dilated_levels(block.length, self.config.value("dus_base"))

    def rows(self, canvas: torch.Tensor, block: Block, index: int):
        # the last group is still masked before its step, so no block finishes early
        return EVERY_ROW if index < len(self.levels) else None

    def query(self, canvas: torch.Tensor, rows: torch.Tensor, block: Block, index: int) -> Query:
        level = torch.tensor(self.levels[index], device=canvas.device) + block.start
        return Query(level.expand(canvas.shape[0], -1), block)

    def update(self, step: Step) -> torch.Tensor:
        chosen = step.candidates
        if step.index < len(self.levels) - 1:
            chosen = chosen & (step.confidence >= self.config.value("dus_remasking_threshold"))
        return step.commit(chosen)
