"""Reads a Waiting Line or Puzzle request back into a `Problem`.

The prompt templates are the released `task_config.yaml` files shipped with the tasks
(`<task_dir>/data/{waiting_line,puzzle}/task_config.yaml`). Each template becomes a regular
expression (whitespace-tolerant, so chat templates and stripped newlines do not matter);
the last match in the request is the question, since a one-shot example comes before it.
"""

from __future__ import annotations

import functools
import json
import re
import string
from pathlib import Path

import yaml

from parallelbench_lmeval.ideal.problems import Problem, latin_square_problem, sudoku_problem, waiting_line_problem
from parallelbench_lmeval.task_folder import data_dir
from parallelbench_lmeval.theory.answer_sets import PUZZLE_TASKS, WAITING_LINE_TASKS

SUPPORTED_TASKS = WAITING_LINE_TASKS + PUZZLE_TASKS
TEMPLATE_FOLDERS = ("waiting_line", "puzzle")
FIELD_PATTERNS = {
    "context": r"\[[^\[\]]*\]",
    "symbols": r"\[[^\[\]]*\]",
    "word": r'[^"\n]*',
    "index": r"\d+",
    "size": r"\d+",
    "sudoku": r"[0-9][0-9\s]*?",
}


def template_regex(template: str) -> re.Pattern:
    """`str.format` template -> regex with a named group per field (repeats match the first)."""
    template = template.replace("\\n", "\n").strip()  # the Sudoku template stores "\n" literally
    pattern, seen = "", set()
    for literal, field, _, _ in string.Formatter().parse(template):
        pattern += r"\s+".join(re.escape(word) for word in re.split(r"\s+", literal))
        if field is None:
            continue
        if field not in FIELD_PATTERNS:
            raise ValueError(f"template field {{{field}}} has no pattern; known: {', '.join(FIELD_PATTERNS)}")
        pattern += f"(?P={field})" if field in seen else f"(?P<{field}>{FIELD_PATTERNS[field]})"
        seen.add(field)
    return re.compile(pattern)


def task_family(config_name: str) -> str:
    """'waiting_line/replace_random' -> 'replace_random', 'puzzle/latin_square_n4' -> 'latin_square'."""
    return re.sub(r"_n\d+.*$", "", config_name.rsplit("/", 1)[-1])


@functools.lru_cache(maxsize=4)
def load_templates(root: Path | None = None) -> dict[str, re.Pattern]:
    """Task family -> question regex, from the shipped task configs."""
    root = root or data_dir()
    templates = {}
    for folder in TEMPLATE_FOLDERS:
        path = root / folder / "task_config.yaml"
        if not path.is_file():
            raise FileNotFoundError(f"the ideal model reads the prompt templates from {path}, which does not exist")
        for name, entry in yaml.safe_load(path.read_text()).items():
            family = task_family(name)
            if family in SUPPORTED_TASKS:
                templates[family] = template_regex(entry["prompt"])
    return templates


@functools.lru_cache(maxsize=4096)  # a sweep sends the same prompts under every configuration
def parse_prompt(text: str, root: Path | None = None) -> Problem:
    """The Problem of the last Waiting Line / Puzzle question in `text`."""
    matches = [(m.start(), family, m) for family, regex in load_templates(root).items() for m in regex.finditer(text)]
    if not matches:
        raise ValueError(
            "the ideal model answers Waiting Line and Puzzle prompts only (tasks: "
            f"{', '.join(SUPPORTED_TASKS)}); this prompt matches none of them: {text[-300:]!r}"
        )
    _, family, match = max(matches, key=lambda found: found[0])
    fields = match.groupdict()
    if family == "latin_square":
        return latin_square_problem([s.strip() for s in fields["symbols"][1:-1].split(",")])
    if family == "sudoku":
        return sudoku_problem([[int(d) for d in row] for row in re.findall(r"[0-9]+", fields["sudoku"])])
    index = int(fields["index"]) if fields.get("index") is not None else None
    return waiting_line_problem(family, json.loads(fields["context"]), fields.get("word"), index)
