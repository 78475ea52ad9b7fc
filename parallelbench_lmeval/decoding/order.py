"""Decoding order: the step at which each canvas position was committed, and how close that order
is to left to right (Kendall's tau and Spearman's rho, as ParallelBench computes them).

Recording (`CommitSteps`, updated by the loop after every step): a [B, G] tensor on the device
holding, per row and position, the step at which the position was first committed, counted in
the row's own forward passes from 0. As in the reference, which takes the first step at which a
position's history shows it unmasked, a position that a sampler takes back (RCR, ReMDM, WINO
revoke tokens; DUS masks low-confidence ones again) keeps the step of its FIRST commit, even when
it ends masked; a position never committed (KLASS's step budget, WINO's step bound) keeps
NOT_COMMITTED. Idle passes (counted but not run) are not steps here; they would not change any
rank.

Correlation, as ParallelBench's `compute_decoding_order_correlation_from_history`
(`model/model_utils.py` of the paper's code, `parallelbench/models/model_utils.py` of its
refactor): with `order` the commit steps in position order, Kendall's tau-b and Spearman's rho
(average ranks) between `sorted(order)` and `order`. Comparing with the sorted steps, not with
the position index, is what handles ties: positions committed in one step share a value, so
left to right with k tokens per step scores exactly 1 and its reverse -1, whatever k.
- Never committed positions count as committed after every step (the reference's 2**31 - 1),
  tied with each other.
- `_ignore_pad` variants: positions whose final token is the tokenizer's pad token are left out
  first (for LLaDA and Dream the pad token is the EOS token, so this drops the EOS tail; end of
  turn tokens stay, as in the reference). The ideal model has no padding: both variants agree.
- Undefined correlations (fewer than two positions, or every position committed in one step)
  are NaN in the reference. Here the sample reports no value for that metric, so lm-eval's mean
  is over the samples whose order is defined (a task where it never is has no value).
"""

from __future__ import annotations

import math

import torch

from parallelbench_lmeval.stats import ORDER_METRICS

NOT_COMMITTED = -1
# never committed: after every step (ParallelBench's value, far above any step count)
LATEST = 2**31 - 1


class CommitSteps:
    """[B, G] commit steps, updated on the device after each step (no host synchronisation)."""

    def __init__(self, batch_size: int, gen_length: int, mask_id: int, device: torch.device | str):
        self.steps = torch.full((batch_size, gen_length), NOT_COMMITTED, dtype=torch.long, device=device)
        self.mask_id = mask_id

    def record(self, rows: torch.Tensor, after: torch.Tensor, step: torch.Tensor) -> None:
        """The rows' canvases `after` [R, G] a step taken at `step` [R] (their forward passes so far):
        a position committed for the first time takes the step."""
        every_row = rows.shape[0] == self.steps.shape[0]  # row ids are distinct: known without a sync
        current = self.steps if every_row else self.steps[rows]
        first = (current == NOT_COMMITTED) & (after != self.mask_id)
        updated = torch.where(first, step.unsqueeze(-1), current)
        if every_row:
            self.steps = updated
        else:
            self.steps[rows] = updated


def _pairwise_signs(values: torch.Tensor) -> torch.Tensor:
    """[B, G, G] sign(values[b, j] - values[b, i]) at [b, i, j]."""
    return (values.unsqueeze(1) - values.unsqueeze(2)).sign()


def kendall_tau_b(x: torch.Tensor, y: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """[B] Kendall's tau-b between x and y [B, G] over the kept positions (NaN when undefined)."""
    pairs = (kept.unsqueeze(1) & kept.unsqueeze(2)).triu(diagonal=1)
    sign_x, sign_y = _pairwise_signs(x) * pairs, _pairwise_signs(y) * pairs
    concordance = (sign_x * sign_y).sum((1, 2)).double()
    untied = (sign_x != 0).sum((1, 2)).double() * (sign_y != 0).sum((1, 2)).double()
    return concordance / untied.sqrt()


def average_ranks(values: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """[B, G] 1-based ranks of the kept values of each row, ties sharing their mean rank."""
    others = kept.unsqueeze(1)
    below = ((values.unsqueeze(1) < values.unsqueeze(2)) & others).sum(-1)
    equal = ((values.unsqueeze(1) == values.unsqueeze(2)) & others).sum(-1)
    return below.double() + (equal.double() + 1) / 2


def spearman_rho(x: torch.Tensor, y: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """[B] Spearman's rho (Pearson's r of average ranks) over the kept positions (NaN when undefined)."""
    weight = kept.double()
    count = weight.sum(-1, keepdim=True)
    rank_x, rank_y = average_ranks(x, kept), average_ranks(y, kept)
    centred_x = (rank_x - (rank_x * weight).sum(-1, keepdim=True) / count) * weight
    centred_y = (rank_y - (rank_y * weight).sum(-1, keepdim=True) / count) * weight
    spread = ((centred_x**2).sum(-1) * (centred_y**2).sum(-1)).sqrt()
    return (centred_x * centred_y).sum(-1) / spread


def order_correlations(steps: torch.Tensor, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Kendall's tau-b and Spearman's rho [B] between each row's kept commit steps [B, G] in
    position order and the same steps sorted (ParallelBench's definition, see the module)."""
    order = torch.where(steps == NOT_COMMITTED, LATEST, steps)
    # the kept steps in ascending order, laid on the kept positions from left to right
    ascending = torch.where(kept, order, LATEST + 1).sort(dim=-1).values
    slot = (kept.long().cumsum(-1) - 1).clamp(min=0)
    in_order = ascending.gather(1, slot)
    return kendall_tau_b(in_order, order, kept), spearman_rho(in_order, order, kept)


def order_metrics(steps: torch.Tensor, tokens: torch.Tensor, pad_id: int | None) -> list[dict[str, float]]:
    """Per row of the decoded `tokens` [B, G] and their commit `steps`: the order metrics
    (`dec_order_kendall`, `dec_order_spearman` and their `_ignore_pad` variants), leaving out
    those that are undefined for the row. `pad_id` None: no padding to leave out."""
    everything = torch.ones_like(tokens, dtype=torch.bool)
    correlations = order_correlations(steps, everything)
    correlations += correlations if pad_id is None else order_correlations(steps, tokens != pad_id)
    rows = torch.stack(correlations, dim=-1).tolist()  # in the order of ORDER_METRICS
    return [{name: value for name, value in zip(ORDER_METRICS, row) if not math.isnan(value)} for row in rows]
