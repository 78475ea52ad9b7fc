"""Log-likelihoods of a masked diffusion LM: the Monte-Carlo ELBO of LLaDA's evaluation.

A masked diffusion LM gives no exact log p(answer | prompt), only a lower bound
(Nie et al., 2025, LLaDA, Eq. 6 / Appendix B.5): mask a random number x of the L answer
tokens, predict them all in one forward pass, and weight their log-probabilities by L / x.
Averaged over `mc_num` draws this estimates the bound. The draws follow LLaDA's
`get_log_likelihood.py` (ML-GSAI/LLaDA), so that the same random numbers give the same
estimate:

- per forward pass of `mc_batch` rows, one count k ~ U{1..L}; row j masks
  x_j = round(k + j L / mc_batch), wrapped into 1..L (stratified over the rows, which lowers
  the variance); `torch.round` rounds halves to even, as LLaDA's does;
- row j's masked answer positions are those where a fresh permutation of 0..L-1 (drawn per
  row, in row order) is below x_j;
- each masked token contributes its cross-entropy divided by x_j / L; a pass contributes the
  sum over its rows divided by `mc_batch`; the estimate is minus the mean over passes.

Unlike the reference, the random numbers come from a CPU generator given per request, so an
estimate does not depend on the other requests of the run, their order, or the device.
`log_likelihoods` runs the copies of several passes, of several requests, in one forward pass
(LLaDA's script runs one request at a time, `mc_batch` copies per pass): the same draws, and
the same estimates up to the float rounding of a larger, padded forward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# logits(ids [rows, T], positions [rows, P]) -> logits [rows, P, V] predicting `ids` at those positions
PositionLogits = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# the same for right-padded rows: logits(ids, positions, keys [rows, T], False for padding)
PaddedPositionLogits = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def masking_counts(answer_length: int, rows: int, generator: torch.Generator) -> torch.Tensor:
    """How many answer tokens each row of one pass masks: stratified, every row at least one."""
    start = torch.randint(1, answer_length + 1, (), generator=generator)
    spaced = torch.linspace(float(start), start + (rows - 1) * (answer_length / rows), steps=rows)
    return (torch.round(spaced).long() - 1) % answer_length + 1


def masked_answer_positions(counts: torch.Tensor, answer_length: int, generator: torch.Generator) -> torch.Tensor:
    """[rows, answer_length] bool: row j masks the positions where its own permutation is below counts[j]."""
    permutations = torch.stack([torch.randperm(answer_length, generator=generator) for _ in range(counts.numel())])
    return permutations < counts.unsqueeze(1)


def guided_logits(logits: torch.Tensor, unconditional: torch.Tensor, cfg_scale: float) -> torch.Tensor:
    """Unsupervised classifier-free guidance on raw logits (LLaDA): un + (s + 1)(cond - un)."""
    return unconditional + (cfg_scale + 1) * (logits - unconditional)


@dataclass(frozen=True)
class MaskedCopies:
    """One pass of one request: its `mc_batch` masked copies as LLaDA's estimator draws them."""

    ids: torch.Tensor  # [rows, T] prompt + answer with masks (+ suffix); with guidance the unconditional rows follow
    positions: torch.Tensor  # [rows, P] the masked answer positions each row predicts (a row with fewer repeats one)
    selected: torch.Tensor  # [mc_batch, P] the predicted positions that are masked
    targets: torch.Tensor  # [mc_batch, P] the answer tokens there
    ratios: torch.Tensor  # [mc_batch, P] the row's share of masked answer tokens, x_j / L


def masked_copies(
    prompt: torch.Tensor,
    answer: torch.Tensor,
    mc_batch: int,
    mask_id: int,
    generator: torch.Generator,
    cfg_scale: float = 0.0,
    suffix: torch.Tensor | None = None,
) -> MaskedCopies:
    """The copies of one pass of prompt + answer (+ `suffix`, tokens a tokenizer appends, such as
    BERT's [SEP]: context, never masked); with guidance, the copies with the prompt masked follow."""
    length = answer.numel()
    counts = masking_counts(length, mc_batch, generator)
    masked = masked_answer_positions(counts, length, generator)
    counts, masked = counts.to(answer.device), masked.to(answer.device)
    answers = torch.where(masked, mask_id, answer.unsqueeze(0))
    parts = [prompt.unsqueeze(0).expand(mc_batch, -1), answers]
    if suffix is not None:
        parts.append(suffix.unsqueeze(0).expand(mc_batch, -1))
    ids = torch.cat(parts, dim=1)
    # every row predicts its masked answer positions (rows with fewer masks repeat a harmless one)
    order = masked.to(torch.int8).argsort(dim=1, descending=True, stable=True)[:, : int(counts.max())]
    positions = prompt.numel() + order
    if cfg_scale > 0:
        unconditional = ids.clone()
        unconditional[:, : prompt.numel()] = mask_id
        ids, positions = torch.cat([ids, unconditional]), torch.cat([positions, positions])
    selected = masked.gather(1, order)
    ratios = (counts / length).unsqueeze(1).expand_as(selected)
    return MaskedCopies(ids, positions, selected, answer[order], ratios)


def pass_term(logits: torch.Tensor, copies: MaskedCopies, cfg_scale: float = 0.0) -> torch.Tensor:
    """A pass's term of the estimate from the logits at its copies' positions: the weighted sum of
    the masked tokens' cross-entropies over the rows, divided by the number of rows (0-dim)."""
    if cfg_scale > 0:
        logits = guided_logits(*logits.chunk(2), cfg_scale)
    selected = copies.selected
    losses = F.cross_entropy(logits[selected], copies.targets[selected], reduction="none")
    return (losses / copies.ratios[selected]).sum() / len(selected)


def log_likelihood(
    logits_at: PositionLogits,
    prompt: torch.Tensor,
    answer: torch.Tensor,
    mc_num: int,
    mc_batch: int,
    mask_id: int,
    generator: torch.Generator,
    cfg_scale: float = 0.0,
    suffix: torch.Tensor | None = None,
) -> float:
    """The Monte-Carlo ELBO estimate of log p(answer | prompt) from `mc_num` masked copies,
    `mc_batch` per forward pass (mc_num is a multiple of mc_batch), one request alone."""
    request = Request(prompt, answer, answer.new_zeros(0) if suffix is None else suffix, generator)
    return log_likelihoods(lambda ids, positions, keys: logits_at(ids, positions), [request], mc_num, mc_batch,
                           mask_id, cfg_scale)[0]


@dataclass(frozen=True)
class Request:
    """One estimate to make: the ids (suffix: unmasked context after the answer) and the
    generator its draws come from."""

    prompt: torch.Tensor
    answer: torch.Tensor
    suffix: torch.Tensor
    generator: torch.Generator

    @property
    def length(self) -> int:
        return self.prompt.numel() + self.answer.numel() + self.suffix.numel()


def log_likelihoods(
    logits_at: PaddedPositionLogits,
    requests: Sequence[Request],
    mc_num: int,
    mc_batch: int,
    mask_id: int,
    cfg_scale: float = 0.0,
    passes_per_forward: int = 1,
    on_forward: Callable[[int], None] = lambda passes: None,
) -> list[float]:
    """`log_likelihood` of every request, each drawing from its own generator (the same draws as
    one request at a time), with the copies of up to `passes_per_forward` passes, of any requests,
    in one forward pass: requests by decreasing length, right-padded to the longest (the padding
    is never attended, so it changes a pass's logits by float rounding only). `on_forward(passes)`
    is called after each forward pass."""
    terms: list[list[torch.Tensor]] = [[] for _ in requests]
    group: list[tuple[int, MaskedCopies]] = []

    def run(group):
        width = max(copies.ids.shape[1] for _, copies in group)
        ids = torch.cat([F.pad(copies.ids, (0, width - copies.ids.shape[1]), value=mask_id) for _, copies in group])
        keys = torch.cat([F.pad(torch.ones_like(copies.ids, dtype=torch.bool), (0, width - copies.ids.shape[1]))
                          for _, copies in group])
        predicted = max(copies.positions.shape[1] for _, copies in group)
        positions = torch.cat([F.pad(copies.positions, (0, predicted - copies.positions.shape[1])) for _, copies in group])
        logits = logits_at(ids, positions, keys)
        start = 0
        for index, copies in group:
            rows, columns = copies.ids.shape[0], copies.positions.shape[1]
            terms[index].append(pass_term(logits[start : start + rows, :columns], copies, cfg_scale))
            start += rows
        on_forward(len(group))

    for index in sorted(range(len(requests)), key=lambda i: -requests[i].length):
        request = requests[index]
        if request.answer.numel() == 0:
            continue
        for _ in range(mc_num // mc_batch):
            group.append((index, masked_copies(request.prompt, request.answer, mc_batch, mask_id, request.generator,
                                               cfg_scale, request.suffix)))
            if len(group) == passes_per_forward:
                run(group)
                group = []
    if group:
        run(group)
    return [-sum(t.item() for t in passes) / len(passes) if passes else 0.0 for passes in terms]
