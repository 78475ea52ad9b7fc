"""Selection rules: which masked positions of the current block to commit this step.

Each rule takes `scores` [rows, positions] (-inf where the position is not a masked
candidate) and the boolean `candidates`, and returns the boolean positions to commit.
Ties are broken by the lower position index (stable sort).
"""

from __future__ import annotations

import torch


def rank(order: torch.Tensor) -> torch.Tensor:
    """Inverse of a sort order: the rank (0 = best) of every position."""
    positions = torch.arange(order.shape[-1], device=order.device).expand_as(order)
    return torch.empty_like(order).scatter_(-1, order, positions)


def top_k(scores: torch.Tensor, candidates: torch.Tensor, count: int) -> torch.Tensor:
    """The `count` best-scored candidates (all of them if fewer remain)."""
    order = scores.argsort(dim=-1, descending=True, stable=True)
    return candidates & (rank(order) < count)


def threshold(scores: torch.Tensor, candidates: torch.Tensor, gamma: float) -> torch.Tensor:
    """The best candidate and every candidate scoring >= gamma (the released rule, not >)."""
    order = scores.argsort(dim=-1, descending=True, stable=True)
    return candidates & ((rank(order) == 0) | (scores >= gamma))


def factor(scores: torch.Tensor, candidates: torch.Tensor, f: float) -> torch.Tensor:
    """The longest prefix of the sorted candidates c(1) >= c(2) >= ... such that
    (m + 1)(1 - c(m)) <= f for every 2 <= m <= n, with n >= 1.

    The released code commits everything when only the last rank fails; the prefix
    here stops at the first failing rank (`released_factor` is the released rule).
    """
    sorted_scores, order = scores.sort(dim=-1, descending=True, stable=True)
    m = torch.arange(1, scores.shape[-1] + 1, device=scores.device, dtype=sorted_scores.dtype)
    passes = ((m + 1) * (1 - sorted_scores) <= f) & (sorted_scores > float("-inf"))
    passes[..., 0] = True
    prefix = passes.long().cumprod(dim=-1).sum(dim=-1, keepdim=True)
    return candidates & (rank(order) < prefix)


def released_factor(scores: torch.Tensor, candidates: torch.Tensor, f: float) -> torch.Tensor:
    """The factor rule as the benchmark's code runs it (ParallelBench's `get_transfer_index_dynamic`
    in generate.py for LLaDA, the factor branch of `sample_block` for Dream): rank m of the n
    candidates fails when c(m) < 1 - f/(m+1), that bound computed in float64 and compared in the
    scores' precision (rank 1 never fails); the prefix stops before the first failing rank, except
    that when the first failure is the last rank n, all n are committed (the off-by-one)."""
    sorted_scores, order = scores.sort(dim=-1, descending=True, stable=True)
    width = scores.shape[-1]
    bounds = torch.tensor([-1.0] + [1 - f / (m + 1) for m in range(2, width + 1)], dtype=scores.dtype,
                          device=scores.device)
    count = candidates.sum(-1, keepdim=True)
    ranks = torch.arange(width, device=scores.device)
    fails = (sorted_scores < bounds) & (ranks < count)
    # index of the first failing rank, n - 1 when none fails (where the reference's loop ends)
    first = torch.where(fails.any(-1, keepdim=True), fails.int().argmax(-1, keepdim=True), count - 1)
    prefix = first + ((first == 0) | (first == count - 1)).long()
    return candidates & (rank(order) < prefix)


def entropy_bounded(scores: torch.Tensor, candidates: torch.Tensor, entropy: torch.Tensor, gamma: float) -> torch.Tensor:
    """EB-Sampler's rule: candidates in score order, the longest prefix whose summed entropy minus
    its largest entropy is at most `gamma`; at least one. (In entropy order the largest is the
    last, so the bound is on the entropy of all but the last committed position.)"""
    order = scores.argsort(dim=-1, descending=True, stable=True)
    ordered = entropy.gather(-1, order)
    spent = ordered.cumsum(-1) - ordered.cummax(-1).values
    passes = (spent <= gamma) & candidates.gather(-1, order)
    prefix = passes.long().cumprod(dim=-1).sum(dim=-1, keepdim=True).clamp(min=1)
    return candidates & (rank(order) < prefix)
