"""One benchmark item as the ideal model sees it: an item alphabet, the distribution of
valid answers over positions, and how an answer is written back as text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from parallelbench_lmeval.ideal.distributions import Arrangements, EnumeratedAnswers
from parallelbench_lmeval.scoring.lists import render_list
from parallelbench_lmeval.scoring.puzzles import render_csv_grid, render_digit_grid
from parallelbench_lmeval.theory.answer_sets import latin_squares, sudoku_solutions, waiting_line_answers

RENDERERS = {"list": render_list, "csv_grid": render_csv_grid, "digit_grid": render_digit_grid}


@dataclass(frozen=True)
class Problem:
    task: str
    alphabet: tuple[str, ...]  # item id i is alphabet[i]
    distribution: EnumeratedAnswers | Arrangements
    layout: str  # a key of RENDERERS

    @property
    def length(self) -> int:
        return self.distribution.length

    def render(self, ids: Sequence[int]) -> str:
        """The answer text; a position left masked (DUS never revisits the tokens it re-masks) has
        an id past the alphabet and drops out, as a model's mask tokens drop out of its text."""
        return RENDERERS[self.layout]([self.alphabet[i] for i in ids if i < len(self.alphabet)])


def _enumerated(task: str, answers: list[tuple[str, ...]], layout: str) -> Problem:
    alphabet = tuple(dict.fromkeys(item for answer in answers for item in answer))
    index = {item: i for i, item in enumerate(alphabet)}
    ids = torch.tensor([[index[item] for item in answer] for answer in answers], dtype=torch.long)
    return Problem(task, alphabet, EnumeratedAnswers(ids), layout)


def waiting_line_problem(
    task: str, items: Sequence[str], word: str | None = None, index: int | None = None, exclude_input_order: bool = True
) -> Problem:
    """A Waiting Line item. Shuffle is analytic (any length); the other tasks enumerate
    their at most n + 1 answers. `exclude_input_order=False` gives the paper's Shuffle."""
    if task == "shuffle":
        alphabet = tuple(dict.fromkeys(items))
        ids = torch.tensor([alphabet.index(item) for item in items], dtype=torch.long)
        return Problem(task, alphabet, Arrangements(ids, exclude_input_order), "list")
    return _enumerated(task, waiting_line_answers(task, items, word, index), "list")


def latin_square_problem(symbols: Sequence[str]) -> Problem:
    return _enumerated("latin_square", latin_squares(symbols), "csv_grid")


def sudoku_problem(grid: Sequence[Sequence[int]]) -> Problem:
    solutions = sudoku_solutions(grid)
    if not solutions:
        raise ValueError(f"the Sudoku {grid!r} has no solution")
    return _enumerated("sudoku", solutions, "digit_grid")
