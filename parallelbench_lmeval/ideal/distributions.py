"""Exact conditional marginals of a uniform distribution over valid answers, for a batch.

Items are ids 0..V-1 (V = the size of the batch's item vocabulary) and `mask_id` marks an
uncommitted position. `probabilities` returns, for every row and position, the
distribution of that position's item over the valid answers that agree with the row's
committed positions (a committed position gets a point mass on its own item), and whether
any such answer is left: parallel commits can combine into an invalid partial answer.

A distribution holds one problem, or several of one length stacked (`stack`) so that a batch
of rows of different problems is computed at once: `owner` [R] says which problem each row
of the canvas belongs to (all of the first one by default). With `hidden` [S] (positions),
`probabilities` gives instead, for each row, the marginal at each of those positions with that
position alone masked ([R, S, V] and valid [R, S]): WINO's verification view.
"""

from __future__ import annotations

import torch


def _owner(owner: torch.Tensor | None, canvas: torch.Tensor) -> torch.Tensor:
    return torch.zeros(len(canvas), dtype=torch.long, device=canvas.device) if owner is None else owner


class EnumeratedAnswers:
    """Uniform over an explicit answer set: `answers` [N, L] of item ids, or [P, N, L] for P
    problems whose sets are padded to N answers, `present` [P, N] marking the real ones. Kept as
    int16: a batch gathers every row's answers, which a long tensor would make 4x larger."""

    def __init__(self, answers: torch.Tensor, present: torch.Tensor | None = None):
        self.answers = (answers if answers.dim() == 3 else answers[None]).to(torch.int16)
        self.present = torch.ones(self.answers.shape[:2], dtype=torch.bool) if present is None else present

    @classmethod
    def stack(cls, distributions: list[EnumeratedAnswers]) -> EnumeratedAnswers:
        count = max(d.answers.shape[1] for d in distributions)
        answers = torch.zeros(sum(len(d.answers) for d in distributions), count, distributions[0].length, dtype=torch.int16)
        present = torch.zeros(answers.shape[:2], dtype=torch.bool)
        start = 0
        for d in distributions:
            problems, n = d.answers.shape[:2]
            answers[start : start + problems, :n], present[start : start + problems, :n] = d.answers, d.present
            start += problems
        return cls(answers, present)

    @property
    def length(self) -> int:
        return self.answers.shape[2]

    def probabilities(
        self, canvas: torch.Tensor, mask_id: int, vocab_size: int, owner: torch.Tensor | None = None,
        hidden: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        owner = _owner(owner, canvas)
        answers = self.answers.to(canvas.device)[owner]  # [R, N, L]
        present = self.present.to(canvas.device)[owner]
        matches = (canvas[:, None, :] == answers) | (canvas == mask_id)[:, None, :]
        rows, width = len(canvas), canvas.shape[1] if hidden is None else len(hidden)
        # counts[r, l, v]: the agreeing answers with item v at position l, as a histogram of the
        # agreeing (row, answer) pairs: few after the first steps, and no one-hot of the answers
        # (576 Latin squares per row)
        if hidden is None:
            agreeing = matches.all(-1) & present  # [R, N]
            r, a = agreeing.nonzero(as_tuple=True)
            cells = (r[:, None] * width + torch.arange(width, device=canvas.device)) * vocab_size + answers[r, a]
            valid = agreeing.any(-1)
        else:  # with position p alone hidden, an answer agrees when it mismatches nowhere else
            mismatches = (~matches).sum(-1, keepdim=True)
            agreeing = (mismatches == (~matches[:, :, hidden]).to(mismatches.dtype)) & present[:, :, None]  # [R, N, S]
            r, a, s = agreeing.nonzero(as_tuple=True)
            cells = (r * width + s) * vocab_size + answers[r, a, hidden[s]]
            valid = agreeing.any(1)
        counts = torch.bincount(cells.flatten(), minlength=rows * width * vocab_size)
        counts = counts.view(rows, width, vocab_size).to(torch.float64)
        return counts / counts.sum(-1, keepdim=True).clamp_min(1), valid

    def contains(self, tokens: torch.Tensor) -> torch.Tensor:
        """Whether each row of `tokens` is an answer of the (first) problem."""
        answers = self.answers[0][self.present[0]].to(tokens.device)
        return (tokens[:, None, :] == answers[None]).all(-1).any(-1)


class Arrangements:
    """Uniform over the distinct orders of the input items (Shuffle), optionally without the
    input order itself. Analytic, so any length works: with m positions masked and r_v copies
    of item v left, v fills a given masked position in a fraction r_v/m of the M = m!/prod r_v!
    completions; excluding the input order removes one completion when the committed
    positions still follow it. `items` [L], or [P, L] with `exclude_input_order` [P] when stacked."""

    def __init__(self, items: torch.Tensor, exclude_input_order: bool | torch.Tensor):
        self.items = items if items.dim() == 2 else items[None]
        self.exclude_input_order = torch.as_tensor(exclude_input_order, dtype=torch.bool).expand(len(self.items))

    @classmethod
    def stack(cls, distributions: list[Arrangements]) -> Arrangements:
        return cls(torch.cat([d.items for d in distributions]), torch.cat([d.exclude_input_order for d in distributions]))

    @property
    def length(self) -> int:
        return self.items.shape[1]

    def probabilities(
        self, canvas: torch.Tensor, mask_id: int, vocab_size: int, owner: torch.Tensor | None = None,
        hidden: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        owner = _owner(owner, canvas)
        if hidden is not None:  # one copy of the canvas per hidden position
            size, diagonal = len(hidden), torch.arange(len(hidden), device=canvas.device)
            views = canvas.unsqueeze(1).repeat(1, size, 1)
            views[:, diagonal, hidden] = mask_id
            probs, valid = self.probabilities(views.flatten(0, 1), mask_id, vocab_size, owner.repeat_interleave(size))
            return probs.view(len(canvas), size, *probs.shape[1:])[:, diagonal, hidden], valid.view(len(canvas), size)
        items, exclude = self.items.to(canvas.device)[owner], self.exclude_input_order.to(canvas.device)[owner]
        masked = canvas == mask_id
        input_item = torch.nn.functional.one_hot(items, vocab_size).to(torch.float64)  # [R, L, V]
        total = input_item.sum(1)
        committed = torch.nn.functional.one_hot(canvas.masked_fill(masked, 0), vocab_size).to(torch.float64)
        used = (committed * (~masked)[..., None]).sum(1)  # [R, V]
        left = total - used
        valid = (left >= 0).all(-1)
        left = left.clamp_min(0)
        m = masked.sum(-1, keepdim=True).clamp_min(1).to(torch.float64)  # [R, 1]
        counts = (left / m)[:, None, :].expand(-1, self.length, -1)  # fractions of M
        # without the input order (rows of problems that exclude it)
        completions = torch.exp(torch.lgamma(m[:, 0] + 1) - torch.lgamma(left + 1).sum(-1))  # M
        follows_input = ((canvas == items) | masked).all(-1) & valid
        remaining = completions - follows_input.to(torch.float64)
        without_input = (counts * completions[:, None, None] - follows_input[:, None, None] * input_item)
        counts = torch.where(exclude[:, None, None], without_input / remaining.clamp_min(1)[:, None, None], counts)
        valid = valid & ~(exclude & (remaining <= 0.5))
        return torch.where(masked[..., None], counts, committed), valid

    def contains(self, tokens: torch.Tensor) -> torch.Tensor:
        """Whether each row of `tokens` is an answer of the (first) problem."""
        items = self.items[0].to(tokens.device)
        is_arrangement = (tokens.sort(-1).values == items.sort().values[None]).all(-1)
        if not self.exclude_input_order[0]:
            return is_arrangement
        return is_arrangement & (tokens != items[None]).any(-1)


def stacked(distributions: list) -> list[tuple[EnumeratedAnswers | Arrangements, list[int]]]:
    """The distributions of problems of one length, stacked by kind: (stack, the problem indices
    it holds, in its order)."""
    kinds: dict[type, list[int]] = {}
    for index, distribution in enumerate(distributions):
        kinds.setdefault(type(distribution), []).append(index)
    return [(kind.stack([distributions[i] for i in indices]), indices) for kind, indices in kinds.items()]
