"""Block schedule: where each block lies and how many tokens each of its steps commits.

Two rules give the counts of a fixed (top-k) schedule of n tokens in T steps:

- `even` (LLaDA's `get_num_transfer_tokens`): n // T per step, the remainder to the first steps;
- `dream` (the benchmark's Dream and DiffuCoder decoding, `sample_block` in ParallelBench's
  `dream_model_utils.py`, and Dream's own `_sample`): step i of T commits int(m_i (1 - s_i / t_i))
  of the m_i masks left, t_i and s_i consecutive float32 timesteps of linspace(1, eps, T + 1), the
  last step the rest. The counts are uneven (k = 2 over 32 tokens: 2, 1, 2, ..., 3) and can be 0
  (k = 1: 1, 1, 1, 1, 0, ..., 2); a step that commits nothing still costs the reference a forward
  pass, so it is counted (`Block.idle_steps`) without being run: nothing it could do changes the output.
"""

from __future__ import annotations

import math

import torch

from parallelbench_lmeval.decoding.config import LEFT_TO_RIGHT, DecodingConfig
from parallelbench_lmeval.decoding.step import Block


def spread(num_tokens: int, steps: int) -> tuple[int, ...]:
    """`num_tokens` over `steps` steps, the remainder going to the first steps (LLaDA's rule)."""
    steps = min(steps, num_tokens)  # a step that commits nothing would only waste a forward pass
    base, extra = divmod(num_tokens, steps)
    return (base + 1,) * extra + (base,) * (steps - extra)


def dream_counts(num_tokens: int, steps: int, eps: float = 0.0) -> tuple[int, ...]:
    """The `dream` rule: `num_tokens` over `steps` steps, with the reference's float32 arithmetic
    (int(float32(masks left) * (1 - s / t)), every operation in float32, truncated)."""
    steps = min(steps, num_tokens)
    timesteps = torch.linspace(1, eps, steps + 1, dtype=torch.float32)
    fractions = 1 - timesteps[1:] / timesteps[:-1]
    counts, left = [], num_tokens
    for fraction in fractions[:-1].tolist():  # float32 values, exactly representable as Python floats
        count = int(torch.tensor(left, dtype=torch.float32) * torch.tensor(fraction, dtype=torch.float32))
        counts.append(count)
        left -= count
    return (*counts, left)


SCHEDULE_RULES = {"even": lambda config, length, steps: spread(length, steps),
                  "dream": lambda config, length, steps: dream_counts(length, steps, config.dream_eps or 0.0)}


def step_counts(config: DecodingConfig, length: int) -> tuple[int, ...] | None:
    """Tokens committed at each step of a block of `length` tokens (zeros included); None when the
    sampler's rule decides step by step (adaptive rules, or a sampler with a plan of its own)."""
    if config.unmasking == LEFT_TO_RIGHT:
        return (length,)
    steps = config.steps_per_block()
    if steps is None and "schedule" in config.spec.takes and not config.adaptive:
        steps = length  # one token per step
    if steps is None:
        return None
    return SCHEDULE_RULES[config.schedule or "even"](config, length, steps)


def block_schedule(config: DecodingConfig) -> list[Block]:
    blocks = []
    for start in range(0, config.gen_length, config.block_size):
        end = min(start + config.block_size, config.gen_length)
        counts = step_counts(config, end - start)
        if counts is None:
            blocks.append(Block(start, end))
        else:
            blocks.append(Block(start, end, tuple(c for c in counts if c), counts.count(0)))
    return blocks


def dilated_levels(length: int, base: int) -> list[list[int]]:
    """DUS's coarse-to-fine groups of block offsets (Luxembourg et al., 2025): offsets that are
    multiples of length/base first, then of each further division by `base`, then the rest; a
    last group smaller than the one before joins it. One forward pass per group."""
    if base == 1:
        return [list(range(length))]
    levels, seen = [], set()
    stride = length // base
    while stride >= 1:
        level = [offset for offset in range(0, length, stride) if offset not in seen]
        if level:
            levels.append(level)
            seen.update(level)
        stride //= base
    leftover = [offset for offset in range(length) if offset not in seen]
    if leftover:
        levels.append(leftover)
    if len(levels) >= 2 and len(levels[-1]) < len(levels[-2]):
        last = levels.pop()
        levels[-1] = levels[-1] + last
    return levels


def maskgit_linear_counts(num_tokens: int, steps: int) -> tuple[int, ...]:
    """Tokens placed per step by a linear MaskGIT schedule (RCR's): after step t,
    n - floor(n * max(1 - (t+1)/steps, 1e-6)) are placed (float64, as the reference computes it)."""
    placed = [num_tokens - math.floor(num_tokens * min(max(1 - (t + 1) / steps, 1e-6), 1.0)) for t in range(steps)]
    return tuple(b - a for a, b in zip([0, *placed], placed))


def revision_plan(steps: int, revisions: int, block_length: int) -> tuple[bool, ...]:
    """ReMDM's steps of a block (True = a revision step): `revisions` of them inserted at index
    max(min(int(7/8 block_length), block_length - 1), 1), the reference's point where "most of the
    block is generated" (past the end of a shorter plan, they come last)."""
    at = max(min(int(block_length * 7 / 8), block_length - 1), 1)
    plan = [False] * steps
    plan[at:at] = [True] * revisions
    return tuple(plan)
