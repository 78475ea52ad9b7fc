"""Block schedule: where each block lies and how many tokens each of its steps commits."""

from __future__ import annotations

import math

from parallelbench_lmeval.decoding.config import LEFT_TO_RIGHT, DecodingConfig
from parallelbench_lmeval.decoding.step import Block


def spread(num_tokens: int, steps: int) -> tuple[int, ...]:
    """`num_tokens` over `steps` steps, the remainder going to the first steps (LLaDA's rule)."""
    steps = min(steps, num_tokens)  # a step that commits nothing would only waste a forward pass
    base, extra = divmod(num_tokens, steps)
    return (base + 1,) * extra + (base,) * (steps - extra)


def step_counts(config: DecodingConfig, length: int) -> tuple[int, ...] | None:
    """Tokens committed at each step of a block of `length` tokens; None when the sampler's rule
    decides step by step (adaptive rules, or a sampler with a plan of its own)."""
    if config.unmasking == LEFT_TO_RIGHT:
        return (length,)
    if config.k is not None:
        return spread(length, -(-length // config.k))
    if config.steps is not None:
        return spread(length, config.steps // config.num_blocks)
    takes_counts = "schedule" in config.spec.takes
    if config.spec.default_steps_per_token or (takes_counts and not config.adaptive):
        return spread(length, length)  # one token per step
    return None


def block_schedule(config: DecodingConfig) -> list[Block]:
    blocks = []
    for start in range(0, config.gen_length, config.block_size):
        end = min(start + config.block_size, config.gen_length)
        blocks.append(Block(start, end, step_counts(config, end - start)))
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
