"""Scores that order masked positions: higher commits first.

Each score is a pure function of the softmax probabilities at a position and the proposed
token there (and, for `random`, of the rows' noise). Adding a strategy is one function here
and one line in `SCORES`.
"""

from __future__ import annotations

import torch

from parallelbench_lmeval.decoding.noise import Uniform


def confidence(probs: torch.Tensor, proposal: torch.Tensor, uniform: Uniform) -> torch.Tensor:
    """p(x0): the probability of the proposed token."""
    return probs.gather(-1, proposal.unsqueeze(-1)).squeeze(-1)


def margin(probs: torch.Tensor, proposal: torch.Tensor, uniform: Uniform) -> torch.Tensor:
    """p(top1) - p(top2), whichever token was proposed."""
    top2 = probs.topk(2, dim=-1).values
    return top2[..., 0] - top2[..., 1]


def negative_entropy(probs: torch.Tensor, proposal: torch.Tensor, uniform: Uniform) -> torch.Tensor:
    """sum p log p (xlogy keeps 0 log 0 = 0 for forbidden tokens)."""
    return torch.xlogy(probs, probs).sum(-1)


def random(probs: torch.Tensor, proposal: torch.Tensor, uniform: Uniform) -> torch.Tensor:
    """Uniform noise: the order of unmasking is random."""
    return uniform(probs.shape[:-1], torch.float32)


SCORES = {
    "random": random,
    "confidence": confidence,
    "margin": margin,
    "entropy": negative_entropy,
}


def position_calibrated(
    base: torch.Tensor, proposal: torch.Tensor, offsets: torch.Tensor, frequencies: torch.Tensor, lam: float, alpha: float
) -> torch.Tensor:
    """PC-Sampler's score: exp(-lam * offset) * min(alpha, -base * ln(f(proposal) + 1e-9)).

    `offsets` are positions within the block (earlier positions are favoured, as in left-to-right
    text), `frequencies` the tokens' frequencies in a reference corpus (rare, informative tokens
    are favoured over frequent ones such as punctuation or end-of-text)."""
    calibrated = (-base * torch.log(frequencies[proposal] + 1e-9)).clamp(max=alpha)
    return torch.exp(-lam * offsets.to(torch.float32)) * calibrated
