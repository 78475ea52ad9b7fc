"""Scores that order masked positions: higher commits first.

Each score is a pure function of the softmax probabilities at a position and the proposed
token there. Adding a strategy is one function here and one line in `SCORES`.
"""

from __future__ import annotations

import torch


def confidence(probs: torch.Tensor, proposal: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """p(x0): the probability of the proposed token."""
    return probs.gather(-1, proposal.unsqueeze(-1)).squeeze(-1)


def margin(probs: torch.Tensor, proposal: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """p(top1) - p(top2), whichever token was proposed."""
    top2 = probs.topk(2, dim=-1).values
    return top2[..., 0] - top2[..., 1]


def negative_entropy(probs: torch.Tensor, proposal: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """sum p log p (xlogy keeps 0 log 0 = 0 for forbidden tokens)."""
    return torch.xlogy(probs, probs).sum(-1)


def random(probs: torch.Tensor, proposal: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Uniform noise: the order of unmasking is random."""
    return torch.rand(probs.shape[:-1], generator=generator, device=probs.device)


SCORES = {
    "random": random,
    "confidence": confidence,
    "margin": margin,
    "entropy": negative_entropy,
}
