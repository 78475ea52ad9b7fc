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
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

# logits(ids [rows, T], positions [rows, P]) -> logits [rows, P, V] predicting `ids` at those positions
PositionLogits = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


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


def elbo_pass(
    logits_at: PositionLogits,
    prompt: torch.Tensor,
    answer: torch.Tensor,
    mc_batch: int,
    mask_id: int,
    generator: torch.Generator,
    cfg_scale: float = 0.0,
    suffix: torch.Tensor | None = None,
) -> float:
    """One forward pass of `mc_batch` masked copies of prompt + answer (+ `suffix`, tokens a
    tokenizer appends, such as BERT's [SEP]: context, never masked): its term of the estimate
    (the weighted sum of the masked tokens' cross-entropies over the rows, divided by `mc_batch`)."""
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
        both = logits_at(torch.cat([ids, unconditional]), torch.cat([positions, positions]))
        logits = guided_logits(*both.chunk(2), cfg_scale)
    else:
        logits = logits_at(ids, positions)
    selected = masked.gather(1, order)
    targets = answer[order]
    losses = F.cross_entropy(logits[selected], targets[selected], reduction="none")
    ratios = (counts / length).unsqueeze(1).expand_as(selected)[selected]
    return ((losses / ratios).sum() / mc_batch).item()


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
    `mc_batch` per forward pass (mc_num is a multiple of mc_batch)."""
    if answer.numel() == 0:
        return 0.0
    passes = [
        elbo_pass(logits_at, prompt, answer, mc_batch, mask_id, generator, cfg_scale, suffix)
        for _ in range(mc_num // mc_batch)
    ]
    return -sum(passes) / len(passes)
