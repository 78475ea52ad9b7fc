"""Training data: chat-format prompt/completion records for fine-tuning and RL on parallel decoding.

Each record is one generated item from the generators' `train` stream (never the `test` stream
the generated tasks use, and never a released question: checked item by item), rendered exactly
as the task renders it for lm-eval:

    {"task": "copy", "n": 5,
     "prompt": [{"role": "user", ...}, {"role": "assistant", ...}, {"role": "user", ...}],
     "completion": [{"role": "assistant", "content": "[\"A B\", ...]"}],
     "metric": "list_match_score", "item": {...the item, in the released format...}}

`prompt` holds the item's own one-shot example as a turn pair (`shots=0` drops it),
`completion` the gold answer (for Shuffle and the *Random tasks one valid answer); this is the
conversational prompt-completion layout that TRL's SFT and GRPO trainers read. `reward` scores
a completion with the task's own metric, for RL. Words-to-Sentence has no reference sentence and
is refused. The manifest records the size, seed, task mix, the released-question check and the
file's SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from parallelbench_lmeval import __version__
from parallelbench_lmeval.generate.families import Family
from parallelbench_lmeval.generate.items import generate_items, overlaps_released, released_keys
from parallelbench_lmeval.generate.lm_eval_tasks import glue_function
from parallelbench_lmeval.generate.sources import released_config

TRAIN_FILE = "train.jsonl"


def record(family: Family, size: int, item: dict, shots: int) -> dict:
    config = released_config(family.config_key(size))
    doc = glue_function("item_to_doc")(item, config["prompt"], config["metric"])
    prompt = []
    for example in json.loads(doc["examples"])[:shots]:
        prompt += [{"role": "user", "content": example["question"]}, {"role": "assistant", "content": example["answer"]}]
    prompt.append({"role": "user", "content": doc["question"]})
    return {
        "task": family.name,
        "n": size,
        "prompt": prompt,
        "completion": [{"role": "assistant", "content": doc["answer"]}],
        "metric": doc["metric"],
        "item": item,
    }


def reward(text: str, training_record: dict) -> float:
    """The task's accuracy (`score`, 0 or 1) of a completion `text` for a training record."""
    doc = {"item": json.dumps(training_record["item"]), "metric": training_record["metric"]}
    return glue_function("item_scores")(text, doc)["score"]


def split_evenly(total: int, parts: int) -> list[int]:
    return [total // parts + (i < total % parts) for i in range(parts)]


def write_training_set(folder: Path, members: list[tuple[Family, int]], size: int, seed: int, shots: int = 1) -> dict:
    """Writes `size` records spread evenly over (family, size) pairs, shuffled; returns the manifest."""
    if any(family.kind == "w2s" for family, _ in members):
        raise ValueError("Words-to-Sentence has no reference sentence to train on; leave w2s_* out of a train split")
    if size < len(members):
        raise ValueError(f"--size {size} is fewer than one record per task and size ({len(members)} pairs)")
    if shots not in (0, 1):
        raise ValueError(f"shots must be 0 or 1 (each item carries one example), got {shots}")
    records, mix, overlaps = [], {}, 0
    for (family, n), count in zip(members, split_evenly(size, len(members))):
        items = generate_items(family, n, seed, count, split="train")
        overlaps += overlaps_released(family, items)
        records += [record(family, n, item, shots) for item in items]
        mix.setdefault(family.name, {})[n] = count
    if overlaps:
        raise AssertionError(f"{overlaps} training questions repeat released ones")  # generate_items never draws them
    random.Random(seed).shuffle(records)
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r) + "\n" for r in records)
    (folder / TRAIN_FILE).write_text(text, encoding="utf-8")
    return {
        "split": "train",
        "file": TRAIN_FILE,
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "records": len(records),
        "seed": seed,
        "shots": shots,
        "mix": mix,
        "released_check": {"released_questions": len(released_keys()), "repeated": overlaps},
        "generator": f"parallelbench-lmeval {__version__}",
    }
