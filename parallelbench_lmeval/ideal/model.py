"""The ideal model of the paper's Section 4, decoded by the engine's own unmasking loop.

One canvas position is one list item (or one grid cell). At every step the model gives each
position the exact conditional marginal of the valid answers that agree with the positions
committed so far, as logits log p (-inf for impossible items), plus zero-mean Gaussian noise
of standard deviation NOISE so that ties (equal probabilities, equal confidences) are broken
at random, as in the paper. Selection, scores, schedules and blocks are those of
`parallelbench_lmeval.decoding.unmask`.

When parallel commits leave no valid answer (e.g. two Shuffle positions take the same item),
the marginals are undefined; the model then spreads the masked positions uniformly over the
item alphabet. The answer is already wrong at that point, so this only affects how many
further steps an adaptive rule takes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch

from parallelbench_lmeval.decoding import DecodeResult, DecodingConfig, unmask
from parallelbench_lmeval.decoding.order import order_metrics
from parallelbench_lmeval.decoding.step import Query, gather_positions
from parallelbench_lmeval.ideal.problems import Problem
from parallelbench_lmeval.ideal.prompts import SUPPORTED_TASKS, parse_prompt
from parallelbench_lmeval.stats import BatchOutput

NOISE = 1e-4


def item_config(config: DecodingConfig, num_items: int) -> DecodingConfig:
    """The decoding options on a canvas of `num_items` positions.

    k, steps and block_length count items: k > n decodes in one step, a block length that
    does not divide n leaves a shorter last block, block_length >= n is one block, and
    steps are rounded down to a multiple of the block count (at least one per block).
    """
    block_length = config.block_length if config.block_length and config.block_length < num_items else None
    config = dataclasses.replace(config, gen_length=num_items, block_length=block_length)
    if config.steps is not None:
        config = dataclasses.replace(config, steps=max(1, config.steps // config.num_blocks) * config.num_blocks)
    return config


def _batch_logits(
    problems: Sequence[Problem], owner: torch.Tensor, canvas: torch.Tensor, mask_id: int, generator: torch.Generator | None
) -> torch.Tensor:
    """Logits [R, L, mask_id + 1] of the rows in `canvas`; row r belongs to problems[owner[r]]."""
    vocab_size = mask_id
    probs = torch.zeros(*canvas.shape, vocab_size, dtype=torch.float64, device=canvas.device)
    for index in owner.unique().tolist():
        rows = (owner == index).nonzero().squeeze(-1)
        problem = problems[index]
        part, valid = problem.distribution.probabilities(canvas[rows], mask_id, vocab_size)
        uniform = torch.zeros(vocab_size, dtype=torch.float64, device=canvas.device)
        uniform[: len(problem.alphabet)] = 1 / len(problem.alphabet)
        fallback = (~valid)[:, None] & (canvas[rows] == mask_id)
        probs[rows] = torch.where(fallback[..., None], uniform, part)
    noise = torch.randn(probs.shape, dtype=torch.float64, generator=generator, device=canvas.device) * NOISE
    logits = (probs.log() + noise).to(torch.float32)
    return torch.cat([logits, logits.new_full((*canvas.shape, 1), -math.inf)], dim=-1)


def decode(
    problems: Sequence[Problem], config: DecodingConfig, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decodes problems that share one length: item ids [B, L] and NFE [B] (one unmask call)."""
    result = decode_result(problems, config, generator)
    return result.tokens, result.nfe


def decode_result(
    problems: Sequence[Problem], config: DecodingConfig, generator: torch.Generator | None = None
) -> DecodeResult:
    """`decode`'s whole result: item ids, NFE and each item's commit step."""
    lengths = {p.length for p in problems}
    if len(lengths) != 1:
        raise ValueError(f"decode takes problems of one length, got lengths {sorted(lengths)}")
    num_items = lengths.pop()
    mask_id = max(len(p.alphabet) for p in problems)
    device = generator.device if generator is not None else torch.device("cpu")
    distinct = list(dict.fromkeys(problems))
    owner_of_row = torch.tensor([distinct.index(p) for p in problems], device=device)

    def denoise(canvas: torch.Tensor, rows: torch.Tensor, query: Query) -> torch.Tensor:
        owners = owner_of_row[rows]
        logits = gather_positions(_batch_logits(distinct, owners, canvas, mask_id, generator), query.positions)
        if not query.mirror:
            return logits
        # WINO's verification view: each block position predicted with itself hidden
        block = torch.arange(query.block.start, query.block.end, device=canvas.device)
        size = block.numel()
        hidden = canvas.unsqueeze(1).repeat(1, size, 1).scatter(2, block.view(1, size, 1).expand(len(canvas), -1, 1), mask_id)
        views = _batch_logits(distinct, owners.repeat_interleave(size), hidden.flatten(0, 1), mask_id, generator)
        mirror = views.view(len(canvas), size, *views.shape[1:])[:, torch.arange(size), block]
        return torch.cat([logits, mirror], dim=1)

    return unmask(denoise, len(problems), item_config(config, num_items), mask_id, device, generator)


def accuracy(problem: Problem, config: DecodingConfig, trials: int, generator: torch.Generator | None = None) -> tuple[float, float]:
    """Fraction of `trials` independent decodings of `problem` that are valid answers, and the
    standard error of that fraction (all trials are decoded as one batch)."""
    tokens, _ = decode([problem] * trials, config, generator)
    rate = problem.distribution.contains(tokens).double().mean().item()
    return rate, math.sqrt(max(rate * (1 - rate), 1e-12) / trials)


class IdealBackend:
    """The `pretrained=ideal` backend of `--model dllm`: reads Waiting Line and Puzzle prompts
    (plain or chat-templated, one-shot or not: the last question counts) and writes its
    answer in the task's format."""

    family = "ideal"
    # its "tokens" are list items: every item equally frequent for PC-Sampler's calibration
    default_pc_frequencies = "uniform"

    def generate(
        self, contexts: list[str], config: DecodingConfig, generators: Sequence[torch.Generator] | None
    ) -> BatchOutput:
        """Texts, NFE, number of items (generated and canvas length) and decoding order per
        context: tokens per step of the ideal model are items per step, and its order is that of
        the items (no padding). The batch draws its tie-breaking noise and samples from one
        stream, the first of `generators` (a simulation, not a model whose outputs must not
        depend on the batch)."""
        generator = generators[0] if generators else None
        problems = [parse_prompt(context) for context in contexts]  # every prompt checked before decoding
        texts: list[str] = [""] * len(problems)
        nfes = [0] * len(problems)
        orders: list[dict[str, float]] = [{}] * len(problems)
        for length in sorted({p.length for p in problems}):
            indices = [i for i, p in enumerate(problems) if p.length == length]
            result = decode_result([problems[i] for i in indices], config, generator)
            metrics = order_metrics(result.commit_steps, result.tokens, pad_id=None)
            for i, ids, steps, order in zip(indices, result.tokens.tolist(), result.nfe.tolist(), metrics):
                texts[i], nfes[i], orders[i] = problems[i].render(ids), steps, order
        items = [p.length for p in problems]
        return BatchOutput(texts, nfes, items, items, orders)

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """A plain role-tagged transcript (the ideal model has no tokenizer of its own)."""
        turns = [f"<|{turn['role']}|>\n{turn['content']}" for turn in chat_history]
        if add_generation_prompt:
            turns.append("<|assistant|>\n")
        return "\n".join(turns)

    def describe(self) -> dict:
        return {"family": "ideal", "supported_tasks": list(SUPPORTED_TASKS), "logit_noise_std": NOISE}
