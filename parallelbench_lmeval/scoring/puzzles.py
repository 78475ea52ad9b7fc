"""Puzzle scoring: Latin Square (any valid square counts) and 4x4 Sudoku (the unique solution)."""

from __future__ import annotations

import re
from collections.abc import Sequence

_DIGIT = re.compile(r"\d")
SUDOKU_SIZE = 4


def render_csv_grid(cells: Sequence[str]) -> str:
    """The Latin Square answer format: comma-separated rows, one per line (cells given row by row)."""
    size = round(len(cells) ** 0.5)
    return "\n".join(",".join(cells[r * size : (r + 1) * size]) for r in range(size))


def render_digit_grid(cells: Sequence[str]) -> str:
    """The Sudoku answer format: one line of digits per row (cells given row by row)."""
    return "\n".join("".join(cells[r * SUDOKU_SIZE : (r + 1) * SUDOKU_SIZE]) for r in range(SUDOKU_SIZE))


def latin_square_score(text: str, symbols: Sequence[str]) -> float:
    """1 when the first `len(symbols)` lines made of exactly the symbol set form a Latin square.

    Lines are comma-separated cells (stripped); other lines (prose, blank lines) are skipped.
    """
    wanted = set(symbols)
    size = len(symbols)
    rows = [cells for cells in ([cell.strip() for cell in line.split(",")] for line in text.split("\n")) if set(cells) == wanted]
    if len(rows) < size:
        return 0.0
    square = rows[:size]
    return float(all(set(column) == wanted for column in zip(*square)))


def sudoku_grid(text: str) -> list[str]:
    """The digits of every line holding exactly four of them (spaces, commas, `|` ... around them
    do not matter, as in the released scorer); lines are split on newlines only."""
    rows = (_DIGIT.findall(line) for line in text.split("\n"))
    return ["".join(digits) for digits in rows if len(digits) == SUDOKU_SIZE]


def sudoku_score(text: str, solution: str) -> float:
    """1 when the output holds exactly four digit rows and they are the solution (rows joined by newlines)."""
    grid = sudoku_grid(text)
    return float(len(grid) == SUDOKU_SIZE and grid == solution.split("\n"))
