"""The generators: items in the released items' format, deterministic from a seed.

Every item has the released item's fields (`input`, `answer`, `output_format` where the released
task has it, `metadata`), so the task glue renders and scores it exactly as a released one:

- Waiting Line: n distinct people of the released name pool; the new person of Replace/Insert is
  not in the line; positions are 0-based (insert 0..n); Sort's gold sorts the whole "First Last"
  strings, as released; the *Random and Shuffle answers store the input and one valid example.
- Latin Square: n distinct symbols of A-Z, 0-9; the example answer is a random square over them
  (any valid square scores).
- Sudoku: a 4 x 4 grid with the chosen number of blanks (0) and exactly one solution.
- Words-to-Sentence: n distinct words of the level's released words, written as the released
  prompts write them ("dog", "dog and park", "dog, park, and ball").

One-shot families carry their own example of the same size in `input.icl_examples` (the
released 15-person lists do the same; the released 3-6 person lists draw the example's length
at random). No question, test item or example, repeats another of the set or any released
item's (test items and their examples) unless `allow_released`; a space too small for the
requested count raises ValueError. Items are drawn one after the other from one stream, so the
first k items of a larger set are the k items of a smaller one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
from collections.abc import Iterable

import numpy as np

from parallelbench_lmeval.generate.families import Family
from parallelbench_lmeval.generate.sources import LATIN_SQUARE_SYMBOLS, data_root, people, w2s_words
from parallelbench_lmeval.scoring.lists import render_list
from parallelbench_lmeval.scoring.puzzles import SUDOKU_SIZE, render_csv_grid, render_digit_grid
from parallelbench_lmeval.theory.answer_sets import sudoku_solutions

SPLITS = ("test", "train")
DEFAULT_NUM_ITEMS = 100  # as many as a released task
# draws allowed per requested item before a set is declared too small to fill
DRAWS_PER_ITEM = 50
# Waiting Line tasks whose released items store a [MASK] template of the answer's length
_WITH_OUTPUT_FORMAT = ("copy", "shuffle", "replace_index", "replace_random", "insert_index", "insert_random")


def stream(split: str, family: Family, size: int, seed: int) -> random.Random:
    """The random stream of one generated set: the same arguments give the same items everywhere."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    digest = hashlib.sha256(f"parallelbench-gen/{split}/{family.name}/{size}/{seed}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


# ---------------------------------------------------------------- one item per family
def _new_person(rng: random.Random, line: list[str]) -> str:
    pool = people()
    while (person := rng.choice(pool)) in line:
        pass
    return person


def _shuffled(rng: random.Random, line: list[str]) -> list[str]:
    order = line[:]
    while order == line:
        rng.shuffle(order)
    return order


def waiting_line_item(rng: random.Random, op: str, n: int) -> dict:
    line = rng.sample(people(), n)
    kind = op.split("_")[0]
    fields: dict = {"context": render_list(line)}
    word = index = None
    if kind in ("replace", "insert"):
        word = fields["word"] = _new_person(rng, line)
    if kind in ("replace", "insert", "remove"):
        index = rng.randint(0, n if kind == "insert" else n - 1)
        if not op.endswith("_random"):
            fields["index"] = index
    result = {
        "copy": lambda: line,
        "sort": lambda: sorted(line),  # whole "First Last" strings, as the released gold
        "reverse": lambda: line[::-1],
        "shuffle": lambda: _shuffled(rng, line),
        "replace": lambda: line[:index] + [word] + line[index + 1 :],
        "insert": lambda: line[:index] + [word] + line[index:],
        "remove": lambda: line[:index] + line[index + 1 :],
    }[kind]()
    if op in ("shuffle", "replace_random", "insert_random", "remove_random"):
        answer = {"input": line, **({"word": word} if word else {}), "example": render_list(result)}
    else:
        answer = render_list(result)
    item = {"input": fields, "answer": answer}
    if op in _WITH_OUTPUT_FORMAT:
        item["output_format"] = render_list(["[MASK]"] * len(result))
    metadata: dict = {"length": n}
    if kind in ("replace", "insert", "remove"):
        metadata["index"] = None if op.endswith("_random") else index
    if word:
        metadata["word"] = word
    item["metadata"] = metadata
    return item


def random_latin_square(rng: random.Random, symbols: list[str]) -> list[str]:
    """Cells row by row: the cyclic square over `symbols` with its rows and columns shuffled."""
    n = len(symbols)
    rows = [symbols[i:] + symbols[:i] for i in range(n)]
    rng.shuffle(rows)
    columns = rng.sample(range(n), n)
    return [row[c] for row in rows for c in columns]


def latin_square_item(rng: random.Random, n: int) -> dict:
    symbols = rng.sample(LATIN_SQUARE_SYMBOLS, n)
    square = render_csv_grid(random_latin_square(rng, symbols))
    return {
        "input": {"size": n, "symbols": "[" + ", ".join(symbols) + "]"},
        "answer": {"symbols": symbols, "example": square},
        "metadata": {"length": n},
    }


@functools.cache
def sudoku_grids() -> np.ndarray:
    """The 288 complete 4 x 4 Sudoku grids, [288, 16] digits."""
    empty = [[0] * SUDOKU_SIZE] * SUDOKU_SIZE
    return np.array([[int(cell) for cell in grid] for grid in sudoku_solutions(empty)], dtype=np.int8)


def sudoku_puzzle(rng: random.Random, blanks: int) -> tuple[str, str]:
    """(puzzle, solution) as digit rows, 0 for a blank; redrawn until the solution is unique."""
    grids = sudoku_grids()
    while True:
        grid = grids[rng.randrange(len(grids))]
        given = np.ones(grid.size, dtype=bool)
        given[rng.sample(range(grid.size), blanks)] = False
        if (grids[:, given] == grid[given]).all(1).sum() == 1:
            break
    cells = [str(digit) if keep else "0" for digit, keep in zip(grid.tolist(), given.tolist())]
    return render_digit_grid(cells), render_digit_grid([str(digit) for digit in grid.tolist()])


def sudoku_item(rng: random.Random, blanks: int) -> dict:
    puzzle, solution = sudoku_puzzle(rng, blanks)
    return {"input": {"sudoku": puzzle}, "answer": solution, "metadata": {"length": SUDOKU_SIZE * SUDOKU_SIZE - blanks}}


def word_list_text(words: list[str]) -> str:
    """As the released prompts write the words: "a", "a and b", "a, b, and c"."""
    if len(words) <= 2:
        return " and ".join(words)
    return ", ".join(words[:-1]) + ", and " + words[-1]


def w2s_item(rng: random.Random, level: str, n: int) -> dict:
    words = rng.sample(w2s_words(level), n)
    return {"input": {"words": word_list_text(words)}, "answer": {"words": words}, "metadata": {"length": n}}


def draw_item(rng: random.Random, family: Family, size: int) -> dict:
    if family.kind == "waiting_line":
        return waiting_line_item(rng, family.name, size)
    if family.kind == "latin_square":
        return latin_square_item(rng, size)
    if family.kind == "sudoku":
        return sudoku_item(rng, size)
    return w2s_item(rng, family.name.removeprefix("w2s_"), size)


# ---------------------------------------------------------------- what makes two questions the same
def question_key(kind: str, fields: dict) -> tuple[str, str]:
    """Two items ask the same question when these keys are equal: the task (each Waiting Line
    operation; one key for all Words-to-Sentence levels, whose prompts do not name the level)
    and the prompt's fields."""
    shown = {key: value for key, value in fields.items() if key != "icl_examples"}
    return kind, json.dumps(shown, sort_keys=True)


def _item_keys(kind: str, item: dict) -> Iterable[tuple[str, str]]:
    yield question_key(kind, item["input"])
    for example in item["input"].get("icl_examples") or []:
        yield question_key(kind, example["input"])


@functools.cache
def released_keys() -> frozenset[tuple[str, str]]:
    """The questions of every released item and of its one-shot example."""
    root = data_root()
    sources: list[tuple[str, str]] = [("latin_square", "puzzle/latin_square_n4"), ("sudoku", "puzzle/sudoku_n4_12")]
    for folder in ("waiting_line", "waiting_line_n15"):
        sources += [(path.stem, f"{folder}/{path.stem}") for path in sorted((root / folder).glob("*.jsonl"))]
    sources += [("w2s", f"words_to_sentence/{path.stem}") for path in sorted((root / "words_to_sentence").glob("*.jsonl"))]
    keys = set()
    for kind, released_task in sources:
        for line in (root / f"{released_task}.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                keys.update(_item_keys(kind, json.loads(line)))
    return frozenset(keys)


def key_kind(family: Family) -> str:
    return family.name if family.kind == "waiting_line" else family.kind


def overlaps_released(family: Family, items: Iterable[dict]) -> int:
    """How many of the items' questions (test items and examples) are released questions."""
    kind, released = key_kind(family), released_keys()
    return sum(key in released for item in items for key in _item_keys(kind, item))


# ---------------------------------------------------------------- a whole set
def generate_items(
    family: Family, size: int, seed: int = 0, count: int = DEFAULT_NUM_ITEMS, split: str = "test", allow_released: bool = False
) -> list[dict]:
    """`count` items of `family` at `size`, deterministic from (split, family, size, seed)."""
    family.check_size(size)
    if count < 1:
        raise ValueError(f"the number of items must be at least 1, got {count}")
    rng = stream(split, family, size, seed)
    kind = key_kind(family)
    taken = set() if allow_released else set(released_keys())
    draws = DRAWS_PER_ITEM * count * (2 if family.one_shot else 1)

    def new_question() -> dict | None:
        """A drawn item whose question is not taken yet; None when the draws are spent."""
        nonlocal draws
        while draws > 0:
            draws -= 1
            item = draw_item(rng, family, size)
            key = question_key(kind, item["input"])
            if key not in taken:
                taken.add(key)
                return item
        return None

    items: list[dict] = []
    while len(items) < count:
        item = new_question()
        example = new_question() if item is not None and family.one_shot else None
        if item is None or (family.one_shot and example is None):
            raise ValueError(
                f"{family.name} with {size} {family.size_name}: only {len(items)} distinct items found"
                f"{'' if allow_released else ' that no released item asks'}; ask for fewer than {count}"
            )
        if example is not None:
            if family.kind == "sudoku":
                del example["metadata"]  # the released Sudoku examples carry none
            item["input"]["icl_examples"] = [example]
        items.append(item)
    return items
