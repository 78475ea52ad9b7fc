"""What the generators draw from: the released benchmark's own pools, read from the shipped data.

- People: every "First Last" of `data/sources/first_last_names.yaml` (92 first x 192 last names,
  17,664 people), the file the released Waiting Line items were drawn from.
- Words-to-Sentence words: per level, every word of the released items of that level (all
  lengths), so a generated easy item uses easy words.
- Latin Square symbols: A-Z and 0-9, as the released generator.
"""

from __future__ import annotations

import functools
import json
import string
from pathlib import Path

import yaml

from parallelbench_lmeval.task_folder import task_dir

LATIN_SQUARE_SYMBOLS = tuple(string.ascii_uppercase + string.digits)
W2S_LEVELS = ("easy", "medium", "hard")


def data_root() -> Path:
    """The released items and their task configs (the task folder's `data/`)."""
    return task_dir() / "data"


@functools.cache
def people() -> tuple[str, ...]:
    firsts, lasts = yaml.safe_load((data_root() / "sources" / "first_last_names.yaml").read_text(encoding="utf-8"))
    return tuple(f"{first} {last}" for first in firsts for last in lasts)


@functools.cache
def w2s_words(level: str) -> tuple[str, ...]:
    if level not in W2S_LEVELS:
        raise ValueError(f"unknown Words-to-Sentence level {level!r}; allowed: {', '.join(W2S_LEVELS)}")
    words: set[str] = set()
    for path in sorted((data_root() / "words_to_sentence").glob(f"{level}*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                words.update(json.loads(line)["answer"]["words"])
    return tuple(sorted(words))


@functools.cache
def released_config(config_key: str) -> dict:
    """A released `task_config.yaml` entry, e.g. `waiting_line/copy` (prompt template, metric)."""
    folder = config_key.split("/")[0]
    configs = yaml.safe_load((data_root() / folder / "task_config.yaml").read_text(encoding="utf-8"))
    if config_key not in configs:
        raise ValueError(f"unknown released task {config_key!r}; allowed: {', '.join(sorted(configs))}")
    return configs[config_key]
