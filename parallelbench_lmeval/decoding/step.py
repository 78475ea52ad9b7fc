"""What one step of the loop hands a sampler, and what a sampler asks of the model.

A step is one forward pass (one NFE) for the rows that still decode. The sampler asks for
predictions at some canvas positions (`Query`); the loop runs the model there, turns the
logits into probabilities and proposals, and gives the sampler a `Step` to decide what to
commit (and, for remasking samplers, what to take back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import torch

from parallelbench_lmeval.decoding.noise import Uniform
from parallelbench_lmeval.decoding.proposal import propose
from parallelbench_lmeval.decoding.workspace import Workspace


@dataclass(frozen=True)
class Block:
    start: int
    end: int
    # tokens committed at each step of a fixed schedule; None = the sampler decides, step by step
    step_counts: tuple[int, ...] | None = None
    # steps of the reference's schedule that commit nothing: forward passes counted, not run
    idle_steps: int = 0

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Query:
    """What the model must predict in one step.

    `positions` [rows, P] are canvas positions. With `mirror`, the model also predicts every
    position of `block` from a copy of the canvas in which that position alone is hidden
    (WINO's verification view); those predictions come after the P others. `drawn` [rows]: how
    many leading positions are the row's own when the rest only pad it to the batch's widest row
    (its masked positions, `masked_query`); None when every position is the row's own. A row draws
    random numbers for its own positions only, so that its draws do not depend on its batch.
    """

    positions: torch.Tensor
    block: Block
    mirror: bool = False
    drawn: torch.Tensor | None = None


@dataclass
class Step:
    index: int  # the step's number within its block
    block: Block
    rows: torch.Tensor  # [R] batch rows taking part
    canvas: torch.Tensor  # [R, G] their canvases (a copy the sampler may return changed)
    positions: torch.Tensor  # [R, P] the canvas positions predicted
    probs: torch.Tensor  # [R, P, V] predictions there (forbidden ids have probability 0)
    proposal: torch.Tensor  # [R, P] the token proposed at each
    uniform: Uniform  # the rows' own random numbers
    mask_id: int
    mirror_probs: torch.Tensor | None = None  # [R, block length, V] WINO's verification view
    # memory kept for the decode call; `probs` lives in it until the next step
    workspace: Workspace = field(default_factory=Workspace)

    @classmethod
    def predict(
        cls,
        logits: torch.Tensor,
        query: Query,
        index: int,
        rows: torch.Tensor,
        canvas: torch.Tensor,
        temperature: float,
        forbidden_ids: torch.Tensor,
        uniform: Uniform,
        mask_id: int,
        dtype: torch.dtype,
        mask_normalised: bool = False,
        workspace: Workspace | None = None,
    ) -> Step:
        """Probabilities (in `dtype`) and proposals from the model's logits at the query. With
        `mask_normalised`, the mask token (not in `forbidden_ids` then) counts in the softmax's
        normalisation, as in a reference that patches no logits, and is never proposed all the same.
        The probabilities are written into `workspace` (memory kept for the decode call)."""
        workspace = workspace or Workspace()
        logits.index_fill_(-1, forbidden_ids, float("-inf"))
        probs = workspace.take("probs", logits.shape, dtype, logits.device)
        # the values of logits.to(dtype).softmax(-1), in the workspace
        torch.softmax(logits if logits.dtype == dtype else probs.copy_(logits), -1, out=probs)
        if mask_normalised:
            probs[..., mask_id] = 0
            logits[..., mask_id] = float("-inf")
        mirror = None
        if query.mirror:
            width = query.positions.shape[1]
            probs, mirror = probs[:, :width], probs[:, width:]
            logits = logits[:, :width]
        proposal = propose(logits, probs, temperature, uniform)
        return cls(index, query.block, rows, canvas, query.positions, probs, proposal, uniform, mask_id, mirror, workspace)

    @cached_property
    def window(self) -> torch.Tensor:
        """[R, P] the canvas at the predicted positions."""
        return self.canvas.gather(1, self.positions)

    @cached_property
    def candidates(self) -> torch.Tensor:
        """[R, P] predicted positions that are still masked."""
        return self.window == self.mask_id

    @cached_property
    def confidence(self) -> torch.Tensor:
        """[R, P] p(proposal)."""
        return self.probs.gather(-1, self.proposal.unsqueeze(-1)).squeeze(-1)

    @property
    def offsets(self) -> torch.Tensor:
        """[R, P] the positions counted from the start of the block."""
        return self.positions - self.block.start

    def commit(self, chosen: torch.Tensor, canvas: torch.Tensor | None = None) -> torch.Tensor:
        """`canvas` (the step's by default) with the proposals written at the `chosen` [R, P] positions."""
        canvas = self.canvas if canvas is None else canvas
        return canvas.scatter(1, self.positions, torch.where(chosen, self.proposal, canvas.gather(1, self.positions)))


def masked_query(canvas: torch.Tensor, block: Block, mask_id: int, width: int, mirror: bool = False) -> Query:
    """The masked positions of the block, `width` per row (the batch's most; see `masked_positions`)."""
    window = canvas[:, block.start : block.end]
    positions = block.start + masked_positions(window, mask_id, width)
    return Query(positions, block, mirror, drawn=(window == mask_id).sum(-1).clamp(max=width))


def masked_positions(window: torch.Tensor, mask_id: int, count: int) -> torch.Tensor:
    """The first `count` positions of each row, masked ones first in ascending order (rows
    with fewer masks are padded with committed positions, which are never candidates)."""
    committed_first_last = (window != mask_id).to(torch.int8)
    return committed_first_last.sort(dim=-1, stable=True).indices[:, :count]


def gather_positions(values: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """values[b, positions[b, p], :] -> [B, P, D]: what a denoiser returns from full-canvas values."""
    return values.gather(1, positions.unsqueeze(-1).expand(-1, -1, values.shape[-1]))
