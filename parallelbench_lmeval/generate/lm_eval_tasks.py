"""Generated tasks in lm-eval: by name, with no YAML, or as a task folder of frozen items.

By name: `include_generated_tasks` teaches lm-eval's TaskManager the names of `families`
(`parallelbench_gen_copy_n12`, `parallelbench_gen_waiting_line_n12_s3`, ...). A generated task is
the released task's YAML (metrics, shots, scoring) with its own name, its canvas and
`dataset_kwargs.generated = {family, n, seed}`; the task glue (`utils.load_items`) draws the
items while lm-eval builds the task. `--metadata '{"num_items": 200}'` sets how many (default
100), `{"allow_released": true}` lets them repeat released questions.

As a folder: `write_task_folder` writes each task's items (`<task>.jsonl`), its YAML (the same
configuration, reading the items from the file) and a `utils.py` that binds the package's glue
to the folder, so `lm_eval --include_path <folder>` runs exactly those items anywhere the package
is installed.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import yaml

from parallelbench_lmeval import __version__
from parallelbench_lmeval.generate.families import Family, GeneratedName, parse_name
from parallelbench_lmeval.generate.items import generate_items, overlaps_released
from parallelbench_lmeval.task_folder import task_dir
from parallelbench_lmeval.stats import ORDER_METRICS

GROUP_METRICS = ("pb_acc", "score_strict", "tokens_per_step")
FOLDER_GLUE = '''"""lm-eval functions of the generated ParallelBench tasks in this folder (written by `parallelbench generate`)."""

from parallelbench_lmeval.generate.lm_eval_tasks import folder_functions

load_items, process_results, OwnExampleSampler = folder_functions(__file__)
'''


def base_config(family: Family) -> dict:
    """The released task's YAML configuration, includes merged (lm-eval's own loader)."""
    from lm_eval.tasks._yaml_loader import load_yaml

    return load_yaml(task_dir() / family.base_yaml, resolve_func=True)


def task_config(name: str, family: Family, size: int, seed: int, items_file: str | None = None) -> dict:
    config = base_config(family)
    dataset_kwargs = {"generated": {"family": family.name, "n": size, "seed": seed}}
    if items_file:
        dataset_kwargs["items_file"] = items_file
    if "scored_with" in config.get("dataset_kwargs", {}):
        dataset_kwargs["scored_with"] = {}  # Text Writing: filled with the scorers in use
    config.update(
        task=name,
        dataset_kwargs=dataset_kwargs,
        generation_kwargs={**config["generation_kwargs"], "max_gen_toks": family.canvas(size)},
    )
    return config


def group_config(parsed: GeneratedName) -> dict:
    metrics = GROUP_METRICS if parsed.members[0][0].kind == "waiting_line" else ("pb_acc", "score", "tokens_per_step")
    metrics += ORDER_METRICS
    return {
        "group": parsed.name,
        "task": [family.task_name(size, seed) for family, size, seed in parsed.members],
        "aggregate_metric_list": [{"metric": metric, "aggregation": "mean", "weight_by_size": False} for metric in metrics],
        "metadata": {"version": 1.0},
    }


def generated_entries(name: str) -> dict:
    """lm-eval index entries for a generated task or group name (empty for other names)."""
    from lm_eval.tasks._index import Entry, Kind

    parsed = parse_name(name)
    if parsed is None:
        return {}
    if not parsed.group:
        family, size, seed = parsed.members[0]
        return {name: Entry(name=name, kind=Kind.TASK, yaml_path=None, cfg=task_config(name, family, size, seed))}
    entries = {}
    for family, size, seed in parsed.members:
        member = family.task_name(size, seed)
        entries[member] = Entry(name=member, kind=Kind.TASK, yaml_path=None, cfg=task_config(member, family, size, seed))
    entries[name] = Entry(name=name, kind=Kind.GROUP, yaml_path=None, cfg=group_config(parsed))
    return entries


def include_generated_tasks(task_manager_class) -> None:
    """Lets a TaskManager match and load generated names it has no YAML for (a folder's YAML wins)."""
    original_match, original_load = task_manager_class.match_tasks, task_manager_class._load_spec
    if getattr(original_match, "_parallelbench", False):
        return

    @functools.wraps(original_match)
    def match_tasks(self, task_list):
        matched = original_match(self, task_list)
        return matched + [name for name in task_list if name not in matched and parse_name(name) is not None]

    @functools.wraps(original_load)
    def _load_spec(self, spec):
        if isinstance(spec, str) and spec not in self.task_index:
            self.task_index.update(generated_entries(spec))
        return original_load(self, spec)

    match_tasks._parallelbench = True
    task_manager_class.match_tasks = match_tasks
    task_manager_class._load_spec = _load_spec


# ---------------------------------------------------------------- task folders
class _Function(str):
    """A `!function` reference in a written YAML file."""


def _function_representer(dumper: yaml.SafeDumper, value: _Function):
    return dumper.represent_scalar("!function", str(value))


class _FolderDumper(yaml.SafeDumper):
    pass


_FolderDumper.add_representer(_Function, _function_representer)


def _unquoted_functions(text: str) -> str:
    """`!function utils.load_items`, as the package's own YAML files write it (PyYAML quotes tagged scalars)."""
    return re.sub(r"!function '([\w.]+)'", r"!function \1", text)


def _with_function_references(value):
    """The configuration with its functions (the task glue's) written as `!function utils.<name>`."""
    if callable(value):
        return _Function(f"utils.{value.__name__}")
    if isinstance(value, dict):
        return {key: _with_function_references(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_function_references(item) for item in value]
    return value


def write_task_folder(
    folder: Path, members: list[tuple[Family, int, int]], num_items: int, allow_released: bool = False
) -> dict:
    """Writes one task per (family, size, seed): items, YAML, and the folder's glue; returns the manifest.
    Every set is drawn before anything is written, so a refused request leaves no folder behind."""
    drawn = [(family, size, seed, generate_items(family, size, seed, num_items, allow_released=allow_released))
             for family, size, seed in members]
    folder.mkdir(parents=True, exist_ok=True)
    tasks = {}
    for family, size, seed, items in drawn:
        name = family.task_name(size, seed)
        items_file = f"{name}.jsonl"
        (folder / items_file).write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
        config = task_config(name, family, size, seed, items_file=items_file)
        config = _with_function_references({"task": name, "dataset_kwargs": config.pop("dataset_kwargs"), **config})
        header = f"# Generated by `parallelbench generate`: {num_items} items of {family.name}, {size} {family.size_name}, seed {seed}.\n"
        (folder / f"{name}.yaml").write_text(header + _unquoted_functions(yaml.dump(config, Dumper=_FolderDumper, sort_keys=False)), encoding="utf-8")
        tasks[name] = {
            "family": family.name, "n": size, "size_of": family.size_name, "seed": seed, "items": len(items),
            "max_gen_toks": family.canvas(size), "released_questions_repeated": overlaps_released(family, items),
        }  # fmt: skip
    (folder / "utils.py").write_text(FOLDER_GLUE, encoding="utf-8")
    return {"split": "test", "allow_released": allow_released, "tasks": tasks, "generator": f"parallelbench-lmeval {__version__}"}


def glue_function(name: str):
    """A function of the task folder's glue (`task_yamls/utils.py`), from the module lm-eval itself loads."""
    from lm_eval.tasks._yaml_loader import _import_func_in_yml

    return _import_func_in_yml(f"utils.{name}", task_dir())


def folder_functions(glue_path: str):
    """`load_items` (items files read from the folder of `glue_path`), `process_results` and the sampler."""
    folder = Path(glue_path).resolve().parent
    load_items = glue_function("load_items")

    def load_folder_items(items_file: str, **kwargs):
        return load_items(items_file=str(folder / items_file), **kwargs)

    return load_folder_items, glue_function("process_results"), glue_function("OwnExampleSampler")
