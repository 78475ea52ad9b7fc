"""Exact conditional marginals of a uniform distribution over valid answers, for a batch.

Items are ids 0..V-1 (V = the size of the batch's item vocabulary) and `mask_id` marks an
uncommitted position. `probabilities` returns, for every row and position, the
distribution of that position's item over the valid answers that agree with the row's
committed positions (a committed position gets a point mass on its own item), and whether
any such answer is left: parallel commits can combine into an invalid partial answer.
"""

from __future__ import annotations

import torch


class EnumeratedAnswers:
    """Uniform over an explicit answer set: `answers` [N, L] of item ids."""

    def __init__(self, answers: torch.Tensor):
        self.answers = answers

    @property
    def length(self) -> int:
        return self.answers.shape[1]

    def probabilities(self, canvas: torch.Tensor, mask_id: int, vocab_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        answers = self.answers.to(canvas.device)
        masked = canvas == mask_id
        agrees = ((canvas[:, None, :] == answers[None]) | masked[:, None, :]).all(-1)  # [R, N]
        rows, count = len(canvas), len(answers)
        counts = torch.zeros(rows, self.length, vocab_size, dtype=torch.float64, device=canvas.device)
        # counts[r, l, answers[a, l]] += agrees[r, a]
        index = answers.T[None].expand(rows, self.length, count)
        counts.scatter_add_(2, index, agrees.to(torch.float64)[:, None, :].expand(rows, self.length, count))
        return counts / counts.sum(-1, keepdim=True).clamp_min(1), agrees.any(-1)

    def contains(self, tokens: torch.Tensor) -> torch.Tensor:
        return (tokens[:, None, :] == self.answers.to(tokens.device)[None]).all(-1).any(-1)


class Arrangements:
    """Uniform over the distinct orders of the input items (Shuffle), optionally without the
    input order itself. Analytic, so any length works: with m positions masked and r_v copies
    of item v left, v fills a given masked position in a fraction r_v/m of the M = m!/prod r_v!
    completions; excluding the input order removes one completion when the committed
    positions still follow it."""

    def __init__(self, items: torch.Tensor, exclude_input_order: bool):
        self.items = items
        self.exclude_input_order = exclude_input_order

    @property
    def length(self) -> int:
        return self.items.shape[0]

    def probabilities(self, canvas: torch.Tensor, mask_id: int, vocab_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        items = self.items.to(canvas.device)
        masked = canvas == mask_id
        total = torch.bincount(items, minlength=vocab_size).to(torch.float64)
        committed = torch.nn.functional.one_hot(canvas.masked_fill(masked, 0), vocab_size).to(torch.float64)
        used = (committed * (~masked)[..., None]).sum(1)  # [R, V]
        left = total[None] - used
        valid = (left >= 0).all(-1)
        left = left.clamp_min(0)
        m = masked.sum(-1, keepdim=True).clamp_min(1).to(torch.float64)  # [R, 1]
        counts = (left / m)[:, None, :].expand(-1, self.length, -1).clone()  # fractions of M
        if self.exclude_input_order:
            completions = torch.exp(torch.lgamma(m[:, 0] + 1) - torch.lgamma(left + 1).sum(-1))  # M
            follows_input = ((canvas == items[None]) | masked).all(-1) & valid
            input_item = torch.nn.functional.one_hot(items, vocab_size).to(torch.float64)[None]  # [1, L, V]
            counts = counts * completions[:, None, None] - follows_input[:, None, None] * input_item
            remaining = completions - follows_input.to(torch.float64)
            valid = valid & (remaining > 0.5)
            counts = counts / remaining.clamp_min(1)[:, None, None]
        return torch.where(masked[..., None], counts, committed), valid

    def contains(self, tokens: torch.Tensor) -> torch.Tensor:
        items = self.items.to(tokens.device)
        is_arrangement = (tokens.sort(-1).values == items.sort().values[None]).all(-1)
        if not self.exclude_input_order:
            return is_arrangement
        return is_arrangement & (tokens != items[None]).any(-1)
