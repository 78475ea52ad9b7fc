"""Random numbers for the rows of a batch.

With one generator per row, a row's draws depend only on its own seed, never on which
other rows share its batch, so sampled and random-order decoding give the same output for
a prompt at any batch size (the loop draws per row, not per token). A step that asks some rows
for more positions than they have (adaptive rules pad every row to the batch's most masks) says
how many are each row's own (`drawn`): a row draws for those only, the padding gets PAD, so
that what the row draws next does not depend on the other rows either.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

# uniform(shape, dtype) -> U[0, 1) noise of `shape`, whose first dimension is the step's rows
Uniform = Callable[[tuple[int, ...], torch.dtype], torch.Tensor]
# the same with another distribution (`RowNoise.for_rows(rows, torch.randn)`: standard normal)
Draw = Uniform
PAD = 0.5  # the draw of a padding position: any value will do (inside (0, 1), so Gumbel noise stays finite)


class RowNoise:
    def __init__(self, generators: torch.Generator | Sequence[torch.Generator] | None, device: torch.device | str):
        self.generators = generators
        self.device = device

    def for_rows(self, rows: Sequence[int], sample=torch.rand, drawn: torch.Tensor | None = None) -> Draw:
        """The noise source of one step, for the batch rows `rows` (in the order the step sees them);
        `sample`: torch.rand (uniform, the default) or another sampler of its signature (torch.randn);
        `drawn` [rows]: how many leading positions (the draw's dimension 1) are each row's own."""
        if self.generators is None or isinstance(self.generators, torch.Generator):
            return lambda shape, dtype: sample(shape, dtype=dtype, generator=self.generators, device=self.device)
        own = [self.generators[row] for row in rows]

        def draw(shape, dtype) -> torch.Tensor:
            counts = [shape[1]] * len(own) if drawn is None else drawn.tolist()  # read only when drawing
            return torch.stack([
                torch.cat([sample((count, *shape[2:]), dtype=dtype, generator=g, device=self.device),
                           torch.full((shape[1] - count, *shape[2:]), PAD, dtype=dtype, device=self.device)])
                for g, count in zip(own, counts)
            ])

        return draw
