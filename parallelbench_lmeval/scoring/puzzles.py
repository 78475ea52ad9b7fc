"""Puzzle scoring: Latin Square (any valid square counts) and 4x4 Sudoku (the unique solution)."""

from __future__ import annotations

import re
from collections.abc import Sequence

_FOUR_DIGITS = re.compile(r"\d{4}")
SUDOKU_SIZE = 4


def latin_square_score(text: str, symbols: Sequence[str]) -> float:
    """1 when the first `len(symbols)` lines made of exactly the symbol set form a Latin square.

    Lines are comma-separated cells (stripped); other lines (prose, blank lines) are skipped.
    """
    wanted = set(symbols)
    size = len(symbols)
    rows = [cells for cells in ([cell.strip() for cell in line.split(",")] for line in text.splitlines()) if set(cells) == wanted]
    if len(rows) < size:
        return 0.0
    square = rows[:size]
    return float(all(set(column) == wanted for column in zip(*square)))


def sudoku_grid(text: str) -> list[str]:
    """The lines of exactly four digits, after removing spaces and commas."""
    lines = (line.replace(" ", "").replace(",", "").strip() for line in text.splitlines())
    return [line for line in lines if _FOUR_DIGITS.fullmatch(line)]


def sudoku_score(text: str, solution: str) -> float:
    """1 when the output holds exactly four digit rows and they are the solution (rows joined by newlines)."""
    grid = sudoku_grid(text)
    return float(len(grid) == SUDOKU_SIZE and grid == solution.split("\n"))
