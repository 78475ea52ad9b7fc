"""The token proposed at each masked position."""

from __future__ import annotations

import torch

from parallelbench_lmeval.decoding.noise import Uniform


def propose(logits: torch.Tensor, temperature: float, uniform: Uniform) -> torch.Tensor:
    """Greedy argmax at temperature 0, else Gumbel-max sampling in float64.

    argmax(exp(l) / (-log u)^T) is computed as argmax(l - T log(-log u)), the same choice
    without overflowing exp for large logits; float64 keeps low-probability tokens from
    being rounded away (the reason LLaDA's sampler uses it).
    """
    if temperature == 0:
        return logits.argmax(-1)
    noise = uniform(logits.shape, torch.float64)
    return (logits.double() - temperature * torch.log(-torch.log(noise))).argmax(-1)
