"""Random numbers for the rows of a batch.

With one generator per row, a row's draws depend only on its own seed, never on which
other rows share its batch, so sampled and random-order decoding give the same output for
a prompt at any batch size (the loop draws per row, not per token).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

# uniform(shape, dtype) -> U[0, 1) noise of `shape`, whose first dimension is the step's rows
Uniform = Callable[[tuple[int, ...], torch.dtype], torch.Tensor]
# the same with another distribution (`RowNoise.for_rows(rows, torch.randn)`: standard normal)
Draw = Uniform


class RowNoise:
    def __init__(self, generators: torch.Generator | Sequence[torch.Generator] | None, device: torch.device | str):
        self.generators = generators
        self.device = device

    def for_rows(self, rows: Sequence[int], sample=torch.rand) -> Draw:
        """The noise source of one step, for the batch rows `rows` (in the order the step sees them);
        `sample`: torch.rand (uniform, the default) or another sampler of its signature (torch.randn)."""
        if self.generators is None or isinstance(self.generators, torch.Generator):
            return lambda shape, dtype: sample(shape, dtype=dtype, generator=self.generators, device=self.device)
        own = [self.generators[row] for row in rows]
        return lambda shape, dtype: torch.stack(
            [sample(shape[1:], dtype=dtype, generator=g, device=self.device) for g in own]
        )
