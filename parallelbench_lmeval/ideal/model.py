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

import contextlib
import dataclasses
import math
from collections.abc import Iterator, Sequence

import torch

from parallelbench_lmeval.decoding import DecodeResult, DecodingConfig, unmask
from parallelbench_lmeval.decoding.noise import Draw, RowNoise
from parallelbench_lmeval.decoding.order import order_metrics
from parallelbench_lmeval.decoding.step import Query, gather_positions
from parallelbench_lmeval.ideal.distributions import stacked
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


class ProblemBatch:
    """The distinct problems of one decode call, stacked by kind (`distributions.stacked`), so
    that one step computes the logits of rows of many problems at once."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(dict.fromkeys(problems))
        self.index = {problem: i for i, problem in enumerate(self.problems)}
        self.stacks = stacked([p.distribution for p in self.problems])
        # problem -> (its stack, its index in that stack)
        self.stack_of = torch.zeros(len(self.problems), dtype=torch.long)
        self.place_in_stack = torch.zeros(len(self.problems), dtype=torch.long)
        for number, (_, members) in enumerate(self.stacks):
            self.stack_of[members] = number
            self.place_in_stack[members] = torch.arange(len(members))
        self.alphabet_sizes = torch.tensor([len(p.alphabet) for p in self.problems])

    def logits(
        self, owner: torch.Tensor, canvas: torch.Tensor, mask_id: int, draw: Draw, hidden: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits [R, L, mask_id + 1] of the rows in `canvas`; row r belongs to problems[owner[r]];
        `draw(shape, dtype)` gives the rows' standard normal noise, the first dimension theirs.
        With `hidden` [S]: the logits [R, S, mask_id + 1] at those positions, each predicted from
        a copy of the canvas in which it alone is masked (the noise of whole copies is drawn)."""
        vocab_size, device = mask_id, canvas.device
        width = canvas.shape[1] if hidden is None else len(hidden)
        probs = torch.zeros(len(canvas), width, vocab_size, dtype=torch.float64, device=device)
        valid = torch.zeros(probs.shape[: 1 if hidden is None else 2], dtype=torch.bool, device=device)
        stack_of, place = self.stack_of.to(device)[owner], self.place_in_stack.to(device)[owner]
        for number, (stack, _) in enumerate(self.stacks):
            rows = (stack_of == number).nonzero().squeeze(-1)
            if len(rows):
                probs[rows], valid[rows] = stack.probabilities(canvas[rows], mask_id, vocab_size, place[rows], hidden)
        sizes = self.alphabet_sizes.to(device)[owner, None]
        uniform = (torch.arange(vocab_size, device=device) < sizes).to(torch.float64) / sizes  # [R, V]
        # no valid answer left: uniform at the masked positions (a hidden position is masked)
        fallback = (~valid)[:, None] & (canvas == mask_id) if hidden is None else ~valid
        probs = torch.where(fallback[..., None], uniform[:, None, :], probs)
        if hidden is None:
            noise = draw(probs.shape, torch.float64)
        else:
            noise = draw((len(canvas), width, *canvas.shape[1:], vocab_size), torch.float64)
            noise = noise[:, torch.arange(width, device=device), hidden]
        logits = (probs.log() + noise * NOISE).to(torch.float32)
        return torch.cat([logits, logits.new_full((*probs.shape[:2], 1), -math.inf)], dim=-1)


def decode(
    problems: Sequence[Problem],
    config: DecodingConfig,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decodes problems that share one length: item ids [B, L] and NFE [B] (one unmask call).
    `generator`: one for the batch, or one per problem (row); then each row draws its logits'
    noise, samples and random order from its own, whatever else shares the batch."""
    result = decode_result(problems, config, generator)
    return result.tokens, result.nfe


def decode_result(
    problems: Sequence[Problem],
    config: DecodingConfig,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
) -> DecodeResult:
    """`decode`'s whole result: item ids, NFE and each item's commit step."""
    lengths = {p.length for p in problems}
    if len(lengths) != 1:
        raise ValueError(f"decode takes problems of one length, got lengths {sorted(lengths)}")
    num_items = lengths.pop()
    mask_id = max(len(p.alphabet) for p in problems)
    first = generator if generator is None or isinstance(generator, torch.Generator) else generator[0]
    device = first.device if first is not None else torch.device("cpu")
    batch = ProblemBatch(problems)
    owner_of_row = torch.tensor([batch.index[p] for p in problems], device=device)
    noise = RowNoise(generator, device)

    def denoise(canvas: torch.Tensor, rows: torch.Tensor, query: Query) -> torch.Tensor:
        owners = owner_of_row[rows]
        draw = noise.for_rows(rows.tolist(), torch.randn)
        logits = gather_positions(batch.logits(owners, canvas, mask_id, draw), query.positions)
        if not query.mirror:
            return logits
        # WINO's verification view: each block position predicted with itself hidden
        block = torch.arange(query.block.start, query.block.end, device=canvas.device)
        return torch.cat([logits, batch.logits(owners, canvas, mask_id, draw, hidden=block)], dim=1)

    return unmask(denoise, len(problems), item_config(config, num_items), mask_id, device, generator)


def accuracy(problem: Problem, config: DecodingConfig, trials: int, generator: torch.Generator | None = None) -> tuple[float, float]:
    """Fraction of `trials` independent decodings of `problem` that are valid answers, and the
    standard error of that fraction (all trials are decoded as one batch)."""
    tokens, _ = decode([problem] * trials, config, generator)
    rate = problem.distribution.contains(tokens).double().mean().item()
    return rate, math.sqrt(max(rate * (1 - rate), 1e-12) / trials)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one thread, restored after. The simulation's tensors hold a few thousand numbers:
    splitting an operation between threads costs more than it saves, and far more when another
    process holds a core (a 12-configuration sweep: 45 s on two threads, 12 s on one, on the
    2-core development machine at load average 2.6)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class IdealBackend:
    """The `pretrained=ideal` backend of `--model dllm`: reads Waiting Line and Puzzle prompts
    (plain or chat-templated, one-shot or not: the last question counts) and writes its
    answer in the task's format."""

    family = "ideal"
    config = None  # no checkpoint config
    # its "tokens" are list items: every item equally frequent for PC-Sampler's calibration
    default_pc_frequencies = "uniform"

    def generate(
        self, contexts: list[str], config: DecodingConfig, generators: Sequence[torch.Generator] | None
    ) -> BatchOutput:
        """Texts, NFE, number of items (generated and canvas length) and decoding order per
        context: tokens per step of the ideal model are items per step, and its order is that of
        the items (no padding). Problems of one length and alphabet size decode as one batch,
        each row drawing from its own generator, so a context decodes as it would alone (the
        adaptive rules' exception: see docs/ideal-model.md)."""
        problems = [parse_prompt(context) for context in contexts]  # every prompt checked before decoding
        texts: list[str] = [""] * len(problems)
        nfes = [0] * len(problems)
        orders: list[dict[str, float]] = [{}] * len(problems)
        for shape in sorted({(p.length, len(p.alphabet)) for p in problems}):
            indices = [i for i, p in enumerate(problems) if (p.length, len(p.alphabet)) == shape]
            rows_generators = [generators[i] for i in indices] if generators else None
            with one_thread():
                result = decode_result([problems[i] for i in indices], config, rows_generators)
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
