"""Block schedule: where each block lies and how many tokens each of its steps commits."""

from __future__ import annotations

from dataclasses import dataclass

from parallelbench_lmeval.decoding.config import LEFT_TO_RIGHT, DecodingConfig


@dataclass(frozen=True)
class Block:
    start: int
    end: int
    # tokens committed at each step; None = adaptive (a rule decides, until the block is full)
    step_counts: tuple[int, ...] | None


def spread(num_tokens: int, steps: int) -> tuple[int, ...]:
    """`num_tokens` over `steps` steps, the remainder going to the first steps (LLaDA's rule)."""
    steps = min(steps, num_tokens)  # a step that commits nothing would only waste a forward pass
    base, extra = divmod(num_tokens, steps)
    return (base + 1,) * extra + (base,) * (steps - extra)


def block_schedule(config: DecodingConfig) -> list[Block]:
    blocks = []
    for start in range(0, config.gen_length, config.block_size):
        end = min(start + config.block_size, config.gen_length)
        length = end - start
        if config.adaptive:
            counts = None
        elif config.unmasking == LEFT_TO_RIGHT:
            counts = (length,)
        elif config.steps is not None:
            counts = spread(length, config.steps // config.num_blocks)
        else:
            k = config.k or 1
            counts = spread(length, -(-length // k))
        blocks.append(Block(start, end, counts))
    return blocks
