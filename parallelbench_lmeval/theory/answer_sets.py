"""The valid answers of each list task, enumerated (what an ideal model samples uniformly).

An answer is a tuple of items, one item per output position. Waiting Line answers are
lists of names; puzzle answers are 4x4 grids flattened row by row. Shuffle is the only
set that cannot be enumerated for long lists (n!); the ideal model handles it analytically.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence

Answer = tuple[str, ...]

WAITING_LINE_TASKS = (
    "copy",
    "sort",
    "reverse",
    "shuffle",
    "replace_index",
    "replace_random",
    "insert_index",
    "insert_random",
    "remove_index",
    "remove_random",
)
PUZZLE_TASKS = ("latin_square", "sudoku")
# the largest Latin square enumerated: 4x4 has 576 squares, 5x5 already 161,280
MAX_LATIN_SQUARE_SIZE = 4


def waiting_line_answers(
    task: str,
    items: Sequence[str],
    word: str | None = None,
    index: int | None = None,
    exclude_input_order: bool = True,
) -> list[Answer]:
    """Every valid output list of a Waiting Line task, without repeats.

    `exclude_input_order` applies to Shuffle: the benchmark's score rejects the input
    order, the paper's Section 4 counts all n! orders (pass False for the paper's set).
    """
    items = tuple(items)
    n = len(items)
    if task == "copy":
        answers = [items]
    elif task == "sort":
        answers = [tuple(sorted(items))]  # whole "First Last" strings, as the released gold
    elif task == "reverse":
        answers = [items[::-1]]
    elif task == "shuffle":
        answers = [p for p in itertools.permutations(items) if not (exclude_input_order and p == items)]
    elif task == "replace_index":
        answers = [items[:index] + (word,) + items[index + 1 :]]
    elif task == "replace_random":
        answers = [items[:i] + (word,) + items[i + 1 :] for i in range(n)]
    elif task == "insert_index":
        answers = [items[:index] + (word,) + items[index:]]
    elif task == "insert_random":
        answers = [items[:i] + (word,) + items[i:] for i in range(n + 1)]
    elif task == "remove_index":
        answers = [items[:index] + items[index + 1 :]]
    elif task == "remove_random":
        answers = [items[:i] + items[i + 1 :] for i in range(n)]
    else:
        raise ValueError(f"unknown Waiting Line task {task!r}; allowed: {', '.join(WAITING_LINE_TASKS)}")
    return list(dict.fromkeys(answers))


def latin_squares(symbols: Sequence[str]) -> list[Answer]:
    """Every Latin square over `symbols` (size = number of symbols), rows flattened."""
    size = len(symbols)
    if not 1 <= size <= MAX_LATIN_SQUARE_SIZE or len(set(symbols)) != size:
        raise ValueError(
            f"Latin squares are enumerated for 1 to {MAX_LATIN_SQUARE_SIZE} distinct symbols, got {list(symbols)!r}"
        )
    return [tuple(symbols[i] for i in square) for square in _latin_squares_of_size(size)]


@functools.cache
def _latin_squares_of_size(size: int) -> tuple[tuple[int, ...], ...]:
    """Latin squares over 0..size-1, built row by row (each row a permutation clashing with no column)."""
    rows = list(itertools.permutations(range(size)))
    squares: list[tuple[tuple[int, ...], ...]] = [()]
    for _ in range(size):
        squares = [
            square + (row,)
            for square in squares
            for row in rows
            if all(row[c] != earlier[c] for earlier in square for c in range(size))
        ]
    return tuple(tuple(cell for row in square for cell in row) for square in squares)


def sudoku_solutions(grid: Sequence[Sequence[int]]) -> list[Answer]:
    """Every completion of a 4x4 Sudoku (2x2 boxes, digits 1-4; 0 = empty), rows flattened."""
    if len(grid) != 4 or any(len(row) != 4 for row in grid):
        raise ValueError(f"a 4x4 Sudoku needs 4 rows of 4 digits, got {grid!r}")
    givens = "".join(str(d) for row in grid for d in row)
    return [full for full in _sudoku_grids() if all(g == "0" or g == cell for g, cell in zip(givens, full))]


@functools.cache
def _sudoku_grids() -> tuple[Answer, ...]:
    """The 288 complete 4x4 Sudoku grids: Latin squares whose four 2x2 boxes hold every digit."""
    boxes = [[4 * r + c for r in rows for c in cols] for rows in ((0, 1), (2, 3)) for cols in ((0, 1), (2, 3))]
    return tuple(square for square in latin_squares("1234") if all(len({square[i] for i in box}) == 4 for box in boxes))
