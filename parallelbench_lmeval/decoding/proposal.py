"""The token proposed at each masked position."""

from __future__ import annotations

import torch

from parallelbench_lmeval.decoding.noise import Uniform


def propose(logits: torch.Tensor, probs: torch.Tensor, temperature: float, uniform: Uniform) -> torch.Tensor:
    """Greedy argmax at temperature 0, else Gumbel-max sampling in float64.

    The greedy argmax is read from `probs` (softmax is monotonic): just after the softmax that
    tensor is still in cache, which makes the argmax about twice as cheap on a CPU.

    argmax(exp(l) / (-log u)^T) is computed as argmax(l - T log(-log u)), the same choice
    without overflowing exp for large logits; float64 keeps low-probability tokens from
    being rounded away (the reason LLaDA's sampler uses it).
    """
    if temperature == 0:
        return probs.argmax(-1)
    noise = uniform(logits.shape, torch.float64)
    return (logits.double() - temperature * torch.log(-torch.log(noise))).argmax(-1)
