"""Real benchmark items rendered as the tasks render them (one-shot, plain or chat turns), and scored."""

from __future__ import annotations

import json

import yaml

from parallelbench_lmeval.task_folder import data_dir
from parallelbench_lmeval.scoring import lists, puzzles

DATA = data_dir()
# (folder, released task name, ideal task family)
RELEASED = {
    "copy": ("waiting_line", "copy"),
    "sort": ("waiting_line", "sort"),
    "reverse": ("waiting_line", "reverse"),
    "shuffle": ("waiting_line", "shuffle"),
    "replace_index": ("waiting_line", "replace_index"),
    "replace_random": ("waiting_line", "replace_random"),
    "insert_index": ("waiting_line", "insert_index"),
    "insert_random": ("waiting_line", "insert_random"),
    "remove_index": ("waiting_line", "remove_index"),
    "remove_random": ("waiting_line", "remove_random"),
    "latin_square": ("puzzle", "latin_square_n4"),
    "sudoku": ("puzzle", "sudoku_n4_12"),
}


def released(task: str, folder: str | None = None) -> tuple[dict, list[dict]]:
    default_folder, name = RELEASED[task]
    folder = folder or default_folder
    config_folder = "waiting_line" if folder == "waiting_line_n15" else folder
    config = yaml.safe_load((DATA / config_folder / "task_config.yaml").read_text())[f"{config_folder}/{name}"]
    items = [json.loads(line) for line in (DATA / folder / f"{name}.jsonl").read_text().splitlines() if line.strip()]
    return config, items


def question(template: str, fields: dict) -> str:
    return template.format(**fields).replace("\\n", "\n")


def answer_text(answer) -> str:
    return answer if isinstance(answer, str) else answer["example"]


def prompt(template: str, item: dict, chat: bool) -> str:
    """[example question, example answer, question] as plain text or as LLaDA-style chat turns."""
    example = item["input"]["icl_examples"][0]
    turns = [question(template, example["input"]), answer_text(example["answer"]), question(template, item["input"])]
    if not chat:
        return f"{turns[0]}\n{turns[1]}\n\n{turns[2]}"
    roles = ("user", "assistant", "user")
    body = "".join(f"<|start_header_id|>{r}<|end_header_id|>\n\n{t.strip()}<|eot_id|>" for r, t in zip(roles, turns))
    return "<|startoftext|>" + body + "<|start_header_id|>assistant<|end_header_id|>\n\n"


def score(task: str, metric: str, text: str, item: dict) -> float:
    if task == "latin_square":
        return puzzles.latin_square_score(text, item["answer"]["symbols"])
    if task == "sudoku":
        return puzzles.sudoku_score(text, item["answer"])
    original = json.loads(item["input"]["context"])
    gold = lists.parse_list(answer_text(item["answer"]))
    return lists.waiting_line_scores(text, metric, gold, original, item["input"].get("word", ""))["score"]
