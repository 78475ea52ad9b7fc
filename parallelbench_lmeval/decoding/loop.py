"""The unmasking loop: blocks, steps, forward passes; the sampler decides the rest.

One call decodes a whole batch. Each step is one call of `denoise` (one NFE) for the rows
that still decode; rows whose block is done wait without a forward pass. The sampler
(`decoding/samplers/`) says which rows step, which positions need predictions (for most
samplers the masked positions of the current block only, so a step's vocabulary-sized work
shrinks as the block fills) and what each step commits or takes back.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from parallelbench_lmeval.decoding.config import DecodingConfig
from parallelbench_lmeval.decoding.noise import RowNoise
from parallelbench_lmeval.decoding.order import CommitSteps
from parallelbench_lmeval.decoding.samplers import EVERY_ROW, SAMPLER_CLASSES, Sampler
from parallelbench_lmeval.decoding.step import Query, Step
from parallelbench_lmeval.decoding.workspace import Workspace

# denoise(canvas[rows, G], rows, query) -> logits[rows, P (+ block length with query.mirror), V]
# at the query's positions; a tensor the loop may overwrite (it fills the forbidden ids in place)
Denoiser = Callable[[torch.Tensor, torch.Tensor, Query], torch.Tensor]


@dataclass
class DecodeResult:
    tokens: torch.Tensor  # [B, G] the decoded canvas
    nfe: torch.Tensor  # [B] forward passes each row took part in (or that its sampler counts)
    commit_steps: torch.Tensor  # [B, G] the step of each position's first commit (decoding/order.py)


def unmask(
    denoise: Denoiser,
    batch_size: int,
    config: DecodingConfig,
    mask_id: int,
    device: torch.device | str = "cpu",
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
    forbidden_ids: Sequence[int] = (),
    prompt_lengths: Sequence[int] | None = None,
    canvas: torch.Tensor | None = None,
    sampler: Sampler | None = None,
    workspace: Workspace | None = None,
) -> DecodeResult:
    """Decodes `batch_size` canvases of `config.gen_length` masks; `forbidden_ids` are never
    proposed (the mask id always is forbidden). `generator`: one for the batch, or one per row
    (then each row's sampling and random order do not depend on the other rows). `prompt_lengths`
    (each row's, unpadded) serve samplers that reproduce a reference's whole-sequence arithmetic.
    `canvas`: the starting canvas instead of all masks (block diffusion starts with a prompt's last
    partial block); `sampler`: one built by the caller instead of `config.sampler`'s. `workspace`:
    memory for the steps' vocabulary-sized tensors, shared with the denoiser (a new one if None)."""
    if canvas is None:
        canvas = torch.full((batch_size, config.gen_length), mask_id, dtype=torch.long, device=device)
    else:
        canvas = canvas.clone()
    nfe = torch.zeros(batch_size, dtype=torch.long, device=device)
    all_rows = torch.arange(batch_size, device=device)
    mask_normalised = config.mask_normalised
    forbidden = torch.tensor([*([] if mask_normalised else [mask_id]), *(i for i in forbidden_ids if i != mask_id)],
                             device=device, dtype=torch.long)
    noise = RowNoise(generator, device)
    sampler = sampler or SAMPLER_CLASSES[config.sampler](config, batch_size, mask_id, device)
    sampler.prompt_lengths = None if prompt_lengths is None else list(prompt_lengths)
    commits = CommitSteps(batch_size, config.gen_length, mask_id, device)
    workspace = workspace or Workspace()

    for block in sampler.blocks():
        sampler.start_block(block, canvas)
        for index in itertools.count():
            rows = sampler.rows(canvas, block, index)
            if rows is None:
                break
            if rows is EVERY_ROW:
                rows, row_ids, view = all_rows, range(batch_size), canvas
            else:
                row_ids, view = rows.tolist(), canvas[rows]
            query = sampler.query(view, rows, block, index)
            step = Step.predict(denoise(view, rows, query), query, index, rows, view, config.temperature, forbidden,
                                noise.for_rows(row_ids, drawn=query.drawn), mask_id, sampler.probability_dtype,
                                mask_normalised, workspace)
            updated = sampler.update(step)
            commits.record(rows, updated, nfe[rows])
            canvas[rows] = updated
            nfe[rows] += 1
    return DecodeResult(tokens=canvas, nfe=nfe + sampler.idle_passes, commit_steps=commits.steps)
