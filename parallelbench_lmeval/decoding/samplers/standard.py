"""The paper's strategies, and EB-Sampler and PC-Sampler: score x selection x schedule.

A score orders the masked positions of the block (confidence, margin, entropy, random,
optionally calibrated by PC-Sampler's position and frequency terms); a selection rule
commits the k best (top-k), the best and all above a threshold, the longest prefix passing
the factor rule, or the longest prefix whose entropy stays within EB-Sampler's bound.
Fixed schedules cost no host synchronisation; adaptive rules cost one per step (which rows
go on, and how many positions to ask for).
"""

from __future__ import annotations

import torch

from parallelbench_lmeval.decoding import scores as scoring
from parallelbench_lmeval.decoding import selection
from parallelbench_lmeval.decoding.frequencies import token_frequencies
from parallelbench_lmeval.decoding.samplers.base import EVERY_ROW, Sampler
from parallelbench_lmeval.decoding.step import Block, Step


class StandardSampler(Sampler):
    def start_block(self, block: Block, canvas: torch.Tensor) -> None:
        self.masks_left = block.length  # per row, while the schedule is fixed
        self.idle_passes += block.idle_steps

    def rows(self, canvas: torch.Tensor, block: Block, index: int):
        if block.step_counts is None:
            return self.masked_rows(canvas, block)
        if index == len(block.step_counts):
            return None
        # fixed schedule: every row has the same number of masks left here
        self.width = self.masks_left
        self.masks_left -= block.step_counts[index]
        return EVERY_ROW

    def order(self, step: Step) -> torch.Tensor:
        """[R, P] the score of each candidate (-inf elsewhere)."""
        return scoring.SCORES[self.config.score](step.probs, step.proposal, step.uniform).masked_fill(
            ~step.candidates, float("-inf")
        )

    def choose(self, step: Step, scores: torch.Tensor) -> torch.Tensor:
        config = self.config
        if config.threshold is not None:
            return selection.threshold(scores, step.candidates, config.threshold)
        if config.factor is not None:
            rule = selection.released_factor if config.compat == "parallelbench" else selection.factor
            return rule(scores, step.candidates, config.factor)
        return selection.top_k(scores, step.candidates, step.block.step_counts[step.index])

    def update(self, step: Step) -> torch.Tensor:
        return step.commit(self.choose(step, self.order(step)))


class EntropyBoundedSampler(StandardSampler):
    """EB-Sampler (Ben-Hamu et al., 2025): positions in score order, the longest prefix whose
    summed entropy minus its largest entropy is at most `eb_gamma` (nats), at least one."""

    def choose(self, step: Step, scores: torch.Tensor) -> torch.Tensor:
        entropy = -torch.xlogy(step.probs, step.probs).sum(-1).to(torch.float32)
        return selection.entropy_bounded(scores, step.candidates, entropy, self.config.value("eb_gamma"))


class PositionCalibratedSampler(StandardSampler):
    """PC-Sampler (Huang et al., 2025): the confidence (or random) score x exp(-lambda i), i the
    position within the block, after a frequency calibration min(alpha, -score ln f(x0)) that
    favours rarer tokens; f comes from a reference corpus (`pc_frequencies`)."""

    def __init__(self, config, batch_size, mask_id, device):
        super().__init__(config, batch_size, mask_id, device)
        self.frequencies = None  # loaded at the first step, when the vocabulary size is known

    def order(self, step: Step) -> torch.Tensor:
        if self.frequencies is None:
            self.frequencies = token_frequencies(self.config.value("pc_frequencies"), step.probs.shape[-1], self.device)
        base = super().order(step)
        calibrated = scoring.position_calibrated(
            base, step.proposal, step.offsets, self.frequencies, self.config.value("pc_lambda"), self.config.value("pc_alpha")
        )
        return calibrated.masked_fill(~step.candidates, float("-inf"))
