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

`compat=parallelbench` reproduces the benchmark's code instead. On LLaDA (llada/klass_generate.py):
a fallback quota larger than the block's masks left takes the rest from `torch.topk` over the
reference's whole-sequence confidence vector (-inf off the block's masks), and writes the model's
prediction at every position it picks, decoded or not, in the canvas; the block's quotas come from
the masks it has when it starts (fewer, after such a write ahead of it). A pick inside the prompt is
not reproduced (the engine does not rewrite prompts; a warning says so). On Dream
(dream/klass_sample.py): a position is ready at confidence >= the threshold, and the fallback commits
one token per step whatever the schedule, over the whole canvas as one block.
"""

from __future__ import annotations

import logging

import torch

from parallelbench_lmeval.decoding import selection
from parallelbench_lmeval.decoding.samplers.base import Sampler
from parallelbench_lmeval.decoding.schedule import spread
from parallelbench_lmeval.decoding.step import Block, Query, Step

logger = logging.getLogger(__name__)

EPSILON = 1e-12  # the reference's guard inside both logarithms


def guarded_log(probs: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """log(p + eps), the reference's guarded logarithm (into `out` when given)."""
    return torch.add(probs, EPSILON, out=out).log_()


def kl_divergence(current: torch.Tensor, log_current: torch.Tensor, log_previous: torch.Tensor) -> torch.Tensor:
    """sum_v q (log(q + eps) - log(p + eps)) over the last dimension, from the guarded logarithms
    of q (`current`) and p; `log_previous` is overwritten (vocabulary-sized: no fresh tensor)."""
    return torch.sub(log_current, log_previous, out=log_previous).mul_(current).sum(-1)


def released_fallback_picks(confidence: torch.Tensor, positions: torch.Tensor, quota: int, prompt_length: int,
                            gen_length: int) -> torch.Tensor:
    """Canvas positions (negative: in the prompt) that llada/klass_generate.py's fallback picks for one
    row: torch.topk of `quota` over its confidence vector of the prompt and canvas, the block's masked
    `positions` holding `confidence`, -inf elsewhere (the same vector on the same device as the reference,
    hence the same choice among the -inf entries when the quota exceeds the masks)."""
    vector = torch.full((prompt_length + gen_length,), float("-inf"), dtype=confidence.dtype, device=confidence.device)
    vector[prompt_length + positions] = confidence
    return torch.topk(vector, quota).indices - prompt_length


class KlassSampler(Sampler):
    probability_dtype = torch.float64

    def __init__(self, config, batch_size, mask_id, device):
        super().__init__(config, batch_size, mask_id, device)
        self.conf_threshold = config.value("klass_conf_threshold")
        self.kl_threshold = config.value("klass_kl_threshold")
        self.history_length = config.value("klass_kl_history")
        released = config.compat == "parallelbench"
        self.ready_at_threshold = released and config.family == "dream"  # klass_sample.py: conf >= threshold
        self.one_per_fallback = released and config.family == "dream"  # klass_sample.py: top-1 fallback
        self.overwrites = released and config.family != "dream"  # klass_generate.py's fallback quirk
        self.previous: torch.Tensor | None = None

    def start_block(self, block: Block, canvas: torch.Tensor) -> None:
        # [B, block length, V]: log(p + eps) of each position's previous distribution (p = 0 before the
        # block's first step), allocated at the first step (V known then); keeping the logarithm
        # rather than p, a step takes one logarithm of its distributions, not two
        self.previous = None
        self.history = torch.zeros(self.batch_size, block.length, self.history_length, dtype=torch.float64,
                                   device=canvas.device)
        if self.overwrites:  # quotas from the masks the block starts with, per row (one host sync per block)
            masks = (canvas[:, block.start : block.end] == self.mask_id).sum(-1).tolist()
            steps = len(block.step_counts)
            self.quotas = [spread(m, steps) + (0,) * (steps - min(steps, m)) if m else (0,) * steps for m in masks]

    def rows(self, canvas: torch.Tensor, block: Block, index: int):
        if index == len(block.step_counts):
            return None  # the reference's step budget: what is still masked stays masked
        rows = self.masked_rows(canvas, block)
        # the whole canvas is predicted when a row's quota may exceed its masks (see `released_fallback_picks`)
        self.whole_canvas = self.overwrites and rows is not None and any(
            self.quotas[row][index] > left for row, left in zip(rows.tolist(), self.row_masks))
        return rows

    def query(self, canvas: torch.Tensor, rows: torch.Tensor, block: Block, index: int) -> Query:
        if not self.whole_canvas:
            return super().query(canvas, rows, block, index)
        # the block's positions first (its masked ones among them), then the rest of the canvas
        inside = torch.arange(block.start, block.end, device=canvas.device)
        outside = torch.cat([torch.arange(0, block.start, device=canvas.device),
                             torch.arange(block.end, canvas.shape[1], device=canvas.device)])
        return Query(torch.cat([inside, outside]).expand(canvas.shape[0], -1), block)

    def update(self, step: Step) -> torch.Tensor:
        width = step.block.length if self.whole_canvas else step.positions.shape[1]  # the block's columns
        probs, positions = step.probs[:, :width], step.positions[:, :width]
        candidates, confidence = step.candidates[:, :width], step.confidence[:, :width]
        shape, device, workspace = probs.shape, probs.device, step.workspace
        if self.previous is None:
            self.previous = guarded_log(torch.zeros(self.batch_size, step.block.length, shape[-1], dtype=torch.float64,
                                                    device=device))
        rows, offsets = self.state_rows(step).unsqueeze(-1), positions - step.block.start
        history = self.history[rows, offsets].roll(-1, dims=-1)
        log_current = guarded_log(probs, out=workspace.take("klass log q", shape, torch.float64, device))
        # previous[rows, offsets], gathered into the workspace
        log_previous = workspace.take("klass log p", shape, torch.float64, device)
        torch.index_select(self.previous.flatten(0, 1), 0, (rows * step.block.length + offsets).flatten(),
                           out=log_previous.view(-1, shape[-1]))
        history[..., -1] = kl_divergence(probs, log_current, log_previous)
        self.history[rows, offsets] = history
        self.previous[rows, offsets] = log_current
        stable = (history < self.kl_threshold).all(-1) & (step.index >= self.history_length - 1)
        confident = confidence >= self.conf_threshold if self.ready_at_threshold else confidence > self.conf_threshold
        ready = stable & confident & candidates
        scores = confidence.masked_fill(~candidates, float("-inf"))
        chosen = torch.where(ready.any(-1, keepdim=True), ready, selection.top_k(scores, candidates, self.quota(step)))
        if self.whole_canvas:
            chosen = self.released_fallback(step, chosen, ready, scores)
        return step.commit(chosen)

    def quota(self, step: Step):
        """The fallback's tokens this step: the schedule's, per row where they depend on the row."""
        if self.one_per_fallback:
            return 1
        if self.overwrites:
            return torch.tensor([[self.quotas[row][step.index]] for row in step.rows.tolist()], device=step.rows.device)
        return step.block.step_counts[step.index]

    def released_fallback(self, step: Step, chosen: torch.Tensor, ready: torch.Tensor, scores: torch.Tensor):
        """`chosen` [R, block length] widened to the whole canvas, with the picks of rows whose fallback
        quota exceeds their masks left replaced by the reference's (`released_fallback_picks`)."""
        width = chosen.shape[1]
        widened = torch.nn.functional.pad(chosen, (0, step.positions.shape[1] - width))
        falls_back = (~ready.any(-1)).tolist()
        for index, (row, left) in enumerate(zip(step.rows.tolist(), self.row_masks)):
            quota = self.quotas[row][step.index]
            if not falls_back[index] or quota <= left:
                continue
            masked = scores[index] > float("-inf")
            prompt_length = 0 if self.prompt_lengths is None else self.prompt_lengths[row]  # unknown: none
            picks = released_fallback_picks(scores[index][masked], step.positions[index, :width][masked], quota,
                                            prompt_length, step.canvas.shape[1])
            if (picks < 0).any():
                logger.warning("compat=parallelbench: KLASS's fallback would rewrite prompt position(s) %s of row %d "
                               "(llada/klass_generate.py); the prompt is left as it is",
                               (picks[picks < 0] + prompt_length).tolist(), row)
            widened[index] = torch.isin(step.positions[index], picks)
        return widened
