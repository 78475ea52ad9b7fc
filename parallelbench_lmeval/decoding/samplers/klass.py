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

The divergence is computed only where it can decide a commit. A position ready at step t has
confidence above the threshold c and divergences below the KL threshold k at steps t - h + 1 .. t
(h = `klass_kl_history`); by Pinsker's inequality a divergence below k moves a token's probability
by at most d (`drift`), so each of the distributions of steps t - h .. t gives that token more than
c - h d (`peak_floor`, 0.76 at the defaults c 0.9, k 0.01, h 2). A step therefore keeps
log(p + eps) only of the distributions at masked positions whose top probability exceeds that
floor, and computes a divergence only from a kept distribution to a kept one; elsewhere it
records +inf, which keeps the position unready for the next h steps, as it must be. The decisions
are those of the divergence computed everywhere, as the reference does (a test compares the two),
at a fraction of the float64 vocabulary-sized work (a third of the masked positions on the
benchmark's LLaDA stand-in). Where a step's probabilities do not sum to one (compat on Dream,
whose mask token takes a share) the bound does not hold and every masked position is kept.

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
import math

import torch

from parallelbench_lmeval.decoding import selection
from parallelbench_lmeval.decoding.samplers.base import Sampler
from parallelbench_lmeval.decoding.schedule import spread
from parallelbench_lmeval.decoding.step import Block, Query, Step

logger = logging.getLogger(__name__)

EPSILON = 1e-12  # the reference's guard inside both logarithms
ROUNDING = 1e-6  # room for float64 rounding in `drift` (far above it)


def guarded_log(probs: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """log(p + eps), the reference's guarded logarithm (into `out` when given)."""
    return torch.add(probs, EPSILON, out=out).log_()


def kl_divergence(current: torch.Tensor, log_current: torch.Tensor, log_previous: torch.Tensor) -> torch.Tensor:
    """sum_v q (log(q + eps) - log(p + eps)) over the last dimension, from the guarded logarithms
    of q (`current`) and p; `log_previous` is overwritten (vocabulary-sized: no fresh tensor)."""
    return torch.sub(log_current, log_previous, out=log_previous).mul_(current).sum(-1)


def drift(kl_threshold: float, vocabulary: int) -> float:
    """The most a token's probability can differ between two distributions that sum to one when
    `kl_divergence` from one to the other is below `kl_threshold`: Pinsker's inequality,
    |q(a) - p(a)| <= sqrt(M KL / 2) for the divergence between q + eps and p + eps (each of mass
    M = 1 + V eps), which exceeds the guarded sum by at most eps V log((1 + eps) / eps); plus room
    for rounding."""
    mass = 1 + vocabulary * EPSILON
    shortfall = EPSILON * vocabulary * math.log((1 + EPSILON) / EPSILON)
    return math.sqrt(mass * (kl_threshold + shortfall + ROUNDING) / 2) + ROUNDING


def peak_floor(conf_threshold: float, kl_threshold: float, history_length: int, vocabulary: int) -> float:
    """A distribution whose top probability is at most this cannot be in the divergence window of a
    ready position: readiness at step t needs p_t(a) > c and divergences below k at steps t-h+1..t,
    hence p_s(a) > c - (t - s) d >= c - h d for each s in t-h..t (d: `drift`)."""
    return conf_threshold - history_length * drift(kl_threshold, vocabulary)


def rows_summed_apart(index: torch.Tensor) -> torch.Tensor:
    """`index` of the rows a reduction will sum, a lone row twice: torch splits the sum of a single
    row longer than its grain size (32,768 entries, real vocabularies) between threads, in another
    order than the row-by-row sums of the reference's whole-sequence tensor; two rows are summed
    one per thread, each in the reference's order."""
    return index.repeat(2) if index.numel() == 1 else index


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
        self.keep_every_distribution = config.mask_normalised  # `peak_floor` needs probabilities summing to one
        self.logs: torch.Tensor | None = None  # [kept, V] log(p + eps) of the last step's kept distributions

    def start_block(self, block: Block, canvas: torch.Tensor) -> None:
        self.history = torch.zeros(self.batch_size, block.length, self.history_length, dtype=torch.float64,
                                   device=canvas.device)
        # [B x block length]: the row of `logs` that holds log(p + eps) of the position's distribution
        # at the last step, -1 where it was not kept (before the block's first step p = 0 everywhere)
        self.slots = torch.full((self.batch_size * block.length,), -1, dtype=torch.long, device=canvas.device)
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
        rows, offsets = self.state_rows(step).unsqueeze(-1), positions - step.block.start
        history = self.history[rows, offsets].roll(-1, dims=-1)
        history[..., -1] = self.divergences(step, probs, confidence, candidates, rows * step.block.length + offsets)
        self.history[rows, offsets] = history
        stable = (history < self.kl_threshold).all(-1) & (step.index >= self.history_length - 1)
        confident = confidence >= self.conf_threshold if self.ready_at_threshold else confidence > self.conf_threshold
        ready = stable & confident & candidates
        scores = confidence.masked_fill(~candidates, float("-inf"))
        chosen = torch.where(ready.any(-1, keepdim=True), ready, selection.top_k(scores, candidates, self.quota(step)))
        if self.whole_canvas:
            chosen = self.released_fallback(step, chosen, ready, scores)
        return step.commit(chosen)

    def divergences(self, step: Step, probs: torch.Tensor, confidence: torch.Tensor, candidates: torch.Tensor,
                    cells: torch.Tensor):
        """[R, W] each masked position's divergence from its previous distribution where both are kept,
        +inf elsewhere (see the module's docstring); keeps log(p + eps) of this step's distributions at
        masked positions (`candidates`) whose top probability exceeds `peak_floor`. `cells` [R, W]:
        row * block length + offset."""
        vocabulary, workspace = probs.shape[-1], step.workspace
        keep = candidates
        if not self.keep_every_distribution:
            peak = confidence if self.config.temperature == 0 else probs.amax(-1)  # greedy: p(argmax)
            keep = keep & (peak > peak_floor(self.conf_threshold, self.kl_threshold, self.history_length, vocabulary))
        found = rows_summed_apart(keep.flatten().nonzero().squeeze(-1))  # one host sync
        found_cells = cells.flatten()[found]
        previous_slots, previous_logs, self.logs = self.slots[found_cells], self.logs, None
        self.slots.fill_(-1)
        self.slots[found_cells] = torch.arange(found.numel(), device=probs.device)
        divergence = torch.full(keep.shape, float("inf"), dtype=torch.float64, device=probs.device)
        if found.numel() == 0:
            return divergence
        shape, columns = (found.numel(), vocabulary), probs.shape[1]
        # the kept distributions, gathered from the step's contiguous probabilities, and their
        # logarithms, in the buffer of the step's parity (the previous step's stays whole)
        current = torch.index_select(step.probs.flatten(0, 1), 0,
                                     (found // columns) * step.probs.shape[1] + found % columns,
                                     out=workspace.take("klass q", shape, torch.float64, probs.device))
        self.logs = guarded_log(current, out=workspace.take(f"klass log q {step.index % 2}", shape, torch.float64,
                                                            probs.device))
        log_previous = workspace.take("klass log p", shape, torch.float64, probs.device)
        if step.index == 0:  # p = 0 everywhere
            guarded_log(log_previous.zero_(), out=log_previous)
        elif previous_logs is None:  # the last step kept none
            return divergence
        else:
            torch.index_select(previous_logs, 0, previous_slots.clamp(min=0), out=log_previous)
        values = kl_divergence(current, self.logs, log_previous)
        if step.index > 0:
            values.masked_fill_(previous_slots < 0, float("inf"))
        divergence.view(-1)[found] = values
        return divergence

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
