"""What can be generated: one family per task, its size range, its canvas, its task names.

A generated task is named `parallelbench_gen_<family>_<letter><size>[_s<seed>]`:
`parallelbench_gen_copy_n12` (12 people, seed 0), `parallelbench_gen_latin_square_n5_s3`
(5 x 5, seed 3), `parallelbench_gen_sudoku_b8` (8 blanks), `parallelbench_gen_w2s_hard_n9`.
Groups: `parallelbench_gen_waiting_line_n<N>[_s<seed>]` (the 10 Waiting Line tasks) and
`parallelbench_gen_w2s_n<N>[_s<seed>]` (the three levels).

The canvas (`max_gen_toks`) grows with the size as the released tasks' do: 32 tokens hold the
released lists of up to 7 names (6 people, one inserted) and 128 the 15-person lists, 64 tokens
the released 4 x 4 squares and sentences of up to 7 words. Sizes stop where the canvas would
pass `MAX_CANVAS` tokens (Waiting Line 223 people, Latin Square 16 x 16, Words-to-Sentence 112
words); Sudoku is 4 x 4 with 1 to 12 blanks (a 4 x 4 Sudoku needs 4 givens for one solution).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from parallelbench_lmeval.generate.sources import W2S_LEVELS

MAX_CANVAS = 1024
PREFIX = "parallelbench_gen_"
WAITING_LINE_OPS = (
    "copy", "sort", "reverse", "shuffle", "replace_index", "replace_random",
    "insert_index", "insert_random", "remove_index", "remove_random",
)  # fmt: skip
GROUPS = {"waiting_line": WAITING_LINE_OPS, "w2s": tuple(f"w2s_{level}" for level in W2S_LEVELS)}
_NAME = re.compile(PREFIX + r"(?P<family>[a-z0-9_]+?)_(?P<letter>[nb])(?P<size>\d+)(?:_s(?P<seed>\d+))?")


def _power_of_two_at_least(value: float) -> int:
    return 2 ** max(0, math.ceil(math.log2(value)))


@dataclass(frozen=True)
class Family:
    name: str  # the task-name part: copy, latin_square, sudoku, w2s_easy
    kind: str  # waiting_line, latin_square, sudoku, w2s
    smallest: int
    largest: int
    base_yaml: str  # the released task's YAML (metrics, shots, scoring), relative to the task folder

    @property
    def letter(self) -> str:
        """`b` for Sudoku (blanks), `n` for the rest (people, words, side)."""
        return "b" if self.kind == "sudoku" else "n"

    @property
    def size_name(self) -> str:
        return {"waiting_line": "people", "latin_square": "side", "sudoku": "blanks", "w2s": "words"}[self.kind]

    @property
    def one_shot(self) -> bool:
        return self.kind != "w2s"

    def config_key(self, size: int) -> str:
        """The released task config whose prompt template and metric the items follow."""
        if self.kind == "waiting_line":
            return f"waiting_line/{self.name}"
        if self.kind == "latin_square":
            return "puzzle/latin_square_n4"
        if self.kind == "sudoku":
            return "puzzle/sudoku_n4_12"
        level = self.name.removeprefix("w2s_")
        return f"words_to_sentence/{level}_n1" if size == 1 else f"words_to_sentence/{level}"

    def canvas(self, size: int) -> int:
        """max_gen_toks of the generated task (the released task's at the released sizes)."""
        if self.kind == "waiting_line":
            return 32 * _power_of_two_at_least((size + 1) / 7)
        if self.kind == "latin_square":
            return max(64, _power_of_two_at_least(4 * size * size))
        if self.kind == "sudoku":
            return 64
        return 64 * _power_of_two_at_least(size / 7)

    def check_size(self, size: int) -> int:
        if not self.smallest <= size <= self.largest:
            raise ValueError(
                f"{self.name}: {self.size_name} must be {self.smallest} to {self.largest}, got {size}"
                + (f" (larger ones pass a {MAX_CANVAS}-token canvas)" if self.kind != "sudoku" else "")
            )
        return size

    def task_name(self, size: int, seed: int = 0) -> str:
        return f"{PREFIX}{self.name}_{self.letter}{size}" + (f"_s{seed}" if seed else "")


def _largest(family: Family) -> int:
    """The largest size whose canvas fits MAX_CANVAS."""
    size = family.smallest
    while family.canvas(size + 1) <= MAX_CANVAS:
        size += 1
    return size


def _families() -> dict[str, Family]:
    families = [Family(op, "waiting_line", 2, 0, f"waiting_line/parallelbench_{op}.yaml") for op in WAITING_LINE_OPS]
    families.append(Family("latin_square", "latin_square", 2, 0, "puzzle/parallelbench_latin_square.yaml"))
    families += [Family(f"w2s_{level}", "w2s", 1, 0, f"text_writing/parallelbench_w2s_{level}.yaml") for level in W2S_LEVELS]
    sized = [Family(f.name, f.kind, f.smallest, _largest(f), f.base_yaml) for f in families]
    sized.append(Family("sudoku", "sudoku", 1, 12, "puzzle/parallelbench_sudoku.yaml"))
    return {family.name: family for family in sized}


FAMILIES = _families()


def family(name: str) -> Family:
    if name not in FAMILIES:
        raise ValueError(f"no generator for {name!r}; allowed: {', '.join(FAMILIES)}")
    return FAMILIES[name]


@dataclass(frozen=True)
class GeneratedName:
    """A parsed generated task or group name: members are (family, size, seed) triples."""

    name: str
    members: tuple[tuple[Family, int, int], ...]
    group: bool


def parse_name(name: str) -> GeneratedName | None:
    """The generated task or group `name` stands for; None when it is no generated name.

    A name that has the form but asks for something impossible (an unknown task, a size out
    of range, `b` for a list) raises ValueError saying what is allowed.
    """
    match = _NAME.fullmatch(name)
    if match is None:
        return None
    family_name, letter, size, seed = match["family"], match["letter"], int(match["size"]), int(match["seed"] or 0)
    if family_name in GROUPS:
        members = [FAMILIES[member] for member in GROUPS[family_name]]
        group = True
    else:
        members = [family(family_name)]
        group = False
    for member in members:
        if letter != member.letter:
            raise ValueError(f"{name}: {member.name} takes `_{member.letter}<{member.size_name}>`, not `_{letter}`")
        member.check_size(size)
    return GeneratedName(name, tuple((member, size, seed) for member in members), group)
