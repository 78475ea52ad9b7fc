"""`parallelbench generate`: items of any size as an lm-eval task folder, or training records.

    parallelbench generate --tasks copy,shuffle --n 8,12 --seed 3 --out gen/
    lm_eval --model dllm --model_args pretrained=ideal,k=2 --include_path gen/ --tasks parallelbench_gen_copy_n8_s3

    parallelbench generate --split train --tasks waiting_line,puzzle --n 3-6 --size 20000 --out train/

The test split writes, per task and size, `<task>.jsonl` (the items), `<task>.yaml` and the
folder's `utils.py`, plus `manifest.json`. The same items come from the task names alone
(`--tasks parallelbench_gen_copy_n8_s3`, no folder): a folder freezes them. The train split
writes `train.jsonl` (chat prompt/completion records) and `manifest.json`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from parallelbench_lmeval.generate.families import FAMILIES, GROUPS, Family, family
from parallelbench_lmeval.generate.items import DEFAULT_NUM_ITEMS, SPLITS

TASK_GROUPS = {**GROUPS, "puzzle": ("latin_square", "sudoku")}


def sizes(text: str) -> list[int]:
    """`12`, `3,5,8` or `3-6` (inclusive)."""
    found = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            found += list(range(int(low), int(high) + 1)) if dash else [int(low)]
        except ValueError:
            raise argparse.ArgumentTypeError(f"sizes are numbers, lists (3,5,8) or ranges (3-6), got {text!r}") from None
        if dash and int(high) < int(low):
            raise argparse.ArgumentTypeError(f"the range {part.strip()!r} is empty: write it low-high (e.g. 3-6)")
    return found


def seed(text: str) -> int:
    """A generator seed: a whole number >= 0, as the task names spell it (`_s3`)."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"the seed is a whole number >= 0 (task names carry it as _s<seed>), got {text!r}")
    return int(text)


def families(text: str) -> list[Family]:
    names = [name for part in text.split(",") for name in TASK_GROUPS.get(part.strip(), (part.strip(),))]
    try:
        return [family(name) for name in dict.fromkeys(names)]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{error}; groups: {', '.join(TASK_GROUPS)}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parallelbench generate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=families, default=families("waiting_line"),
                        help=f"tasks or groups, comma-separated (default waiting_line); tasks: {', '.join(FAMILIES)}; "
                        f"groups: {', '.join(TASK_GROUPS)}")
    parser.add_argument("--n", type=sizes, default=sizes("3-6"),
                        help="people / words / square side, e.g. 12, 3,5,8 or 3-6 (default 3-6, the released range)")
    parser.add_argument("--blanks", type=sizes, default=sizes("4"), help="Sudoku blanks, 1 to 12 (default 4, as released)")
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--split", choices=SPLITS, default="test",
                        help="test: an lm-eval task folder; train: chat prompt/completion records (default test)")
    parser.add_argument("--num-items", type=int, default=DEFAULT_NUM_ITEMS, help="test split: items per task and size (default 100)")
    parser.add_argument("--size", type=int, default=10_000, help="train split: records in all (default 10000)")
    parser.add_argument("--shots", type=int, default=1, help="train split: 1 puts the item's example in the prompt, 0 leaves it out")
    parser.add_argument("--allow-released", action="store_true", help="test split: items may repeat released questions")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        members = [(f, size) for f in args.tasks for size in (args.blanks if f.kind == "sudoku" else args.n)]
        for f, size in members:
            f.check_size(size)
        if args.split == "train":
            from parallelbench_lmeval.generate.training import write_training_set

            manifest = write_training_set(args.out, members, args.size, args.seed, args.shots)
            summary = f"wrote {manifest['records']} training records to {args.out / manifest['file']}"
        else:
            from parallelbench_lmeval.generate.lm_eval_tasks import write_task_folder

            manifest = write_task_folder(args.out, [(f, size, args.seed) for f, size in members], args.num_items, args.allow_released)
            names = ",".join(manifest["tasks"])
            summary = f"wrote {len(manifest['tasks'])} tasks to {args.out}; run them with\n  lm_eval --include_path {args.out} --tasks {names} ..."
    except ValueError as error:
        parser.error(str(error))
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(summary)
    return 0
