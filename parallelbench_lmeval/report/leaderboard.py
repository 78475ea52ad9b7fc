"""The leaderboard summary (our JSON schema + markdown) and the public leaderboard's data files.

Public files (SPEC §6), one set per `dllm` model:
- `leaderboard/<model>.json`: {"thresholds": [80, 75, 70], "results": {<strategy>: {"80": tps, ...}}}
- `figures/<model>/<strategy>.csv`: `task,tps,accuracy`, one row per configuration and task
  (task ids `waitingline-copy`, ..., and `avg`), accuracy in percent.
The public format has no room for a flag, so runs made with `--limit` stay out of these files;
the summary keeps them, marked with their limit.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path

from parallelbench_lmeval.report.analysis import (
    AUP_ALPHA,
    AUP_DROP,
    PB_THRESHOLDS,
    average_point,
    benchmark_tasks,
    best_accuracies,
    by_model,
    by_strategy,
    characterize_tasks,
    oracle_point,
    strategy_aup,
    strategy_summary,
)
from parallelbench_lmeval.report.runs import (
    ACCURACY_METRIC,
    DLLM_ENGINE,
    LEADERBOARD_TASK_IDS,
    TOKENS_PER_STEP_METRIC,
    Configuration,
    is_adaptive,
    model_slug,
)

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
AVERAGE_TASK_ID = "avg"


def _finite_or_none(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(item) for item in value]
    return value


def build_summary(configurations: list[Configuration], thresholds=PB_THRESHOLDS) -> dict:
    """Everything the leaderboard and the figures summarise, as one JSON-ready dict (NaN -> null)."""
    models = {}
    best = best_accuracies(configurations)
    for model, configs in by_model(configurations).items():
        tasks = benchmark_tasks(configs)
        entry = {
            "engine": configs[0].engine,
            "tasks": tasks,
            "complete": len(tasks) == len(LEADERBOARD_TASK_IDS),
            "strategies": {
                strategy: {**strategy_summary(members, tasks, thresholds), **strategy_aup(members, tasks, best)}
                for strategy, members in sorted(by_strategy(configs).items())
            },
            "oracle": {},
        }
        for strategy, members in sorted(by_strategy(configs).items()):
            if len(members) > 1 and all(is_adaptive(member.options) for member in members):
                try:
                    entry["oracle"][strategy] = oracle_point(members, tasks)
                except ValueError as error:
                    logger.warning("no oracle for %s %s: %s", model, strategy, error)
        models[model] = entry
    return _finite_or_none({
        "schema_version": SCHEMA_VERSION,
        "thresholds": list(thresholds),
        "metrics": {"accuracy": ACCURACY_METRIC, "tokens_per_step": TOKENS_PER_STEP_METRIC},
        # AUP's settings and reference point: each task's best accuracy (%) in this report
        "aup": {"alpha": AUP_ALPHA, "drop": AUP_DROP, "best_accuracy": best},
        "models": models,
        "task_characterization": characterize_tasks(configurations),
    })


def _number(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def summary_markdown(summary: dict) -> str:
    thresholds = summary["thresholds"]
    lines = [
        "| model | strategy | " + " | ".join(f"PB{x}" for x in thresholds) + " | AUP | configurations | best accuracy (%) |",
        "|---|---|" + "---:|" * (len(thresholds) + 3),
    ]
    notes = []
    for model, entry in summary["models"].items():
        if not entry["complete"]:
            notes.append(f"- {model}: averaged over {len(entry['tasks'])} of the {len(LEADERBOARD_TASK_IDS)} tasks.")
        for strategy, result in entry["strategies"].items():
            best = max((c["accuracy"] for c in result["configurations"] if c["accuracy"] is not None), default=None)
            limited = [c for c in result["configurations"] if c["limit"] is not None]
            count = f"{len(result['configurations'])}" + (f" ({len(limited)} limited)" if limited else "")
            lines.append(
                f"| {model} | {strategy} | "
                + " | ".join(_number(result[f"PB{x}"]) for x in thresholds)
                + f" | {_number(result['AUP'], 1)} | {count} | {_number(best, 1)} |"
            )
            if limited:
                runs = ", ".join(f"{c['config']} (--limit {c['limit']:g})" for c in limited)
                notes.append(f"- {model} {strategy}: PBx counts runs made with --limit, on part of each task: {runs}; "
                             "the public leaderboard files leave them out.")
        for strategy, oracle in entry["oracle"].items():
            if oracle:
                notes.append(
                    f"- {model} {strategy} oracle: {oracle['accuracy']:.1f}% at "
                    f"{oracle['tokens_per_step']:.2f} tokens per step"
                )
    text = (
        "PBx: the largest mean tokens per step of a configuration whose mean accuracy over the tasks is ≥ x% (0 if none).\n"
        "AUP: accuracy under parallelism (d3LLM), the area under each task's accuracy (%) against tokens per step, "
        "weighted down below the task's best accuracy in this report; mean over the tasks.\n\n"
    )
    return text + "\n".join(lines) + ("\n\n" + "\n".join(notes) if notes else "") + "\n"


def figure_rows(configurations: list[Configuration], tasks: list[str]) -> list[tuple[str, float, float]]:
    """(task id, tps, accuracy %) rows of one strategy's CSV: tasks sorted by id, then `avg`."""
    rows = []
    for configuration in configurations:
        for task in tasks:
            if task in configuration.tasks:
                result = configuration.tasks[task]
                rows.append((LEADERBOARD_TASK_IDS.get(task, task), result.tokens_per_step, 100 * result.accuracy))
    averages = [average_point(configuration, tasks) for configuration in configurations]
    rows.sort()
    rows += sorted((AVERAGE_TASK_ID, tps, accuracy) for tps, accuracy in filter(None, averages))
    return rows


def full_runs(configurations: list[Configuration]) -> list[Configuration]:
    """The `dllm` configurations whose every task ran on all its items; warns naming the ones run with `--limit`."""
    dllm = [c for c in configurations if c.engine == DLLM_ENGINE]
    limited = [f"{c.model} {c.strategy} {c.label} (--limit {c.limit:g})" for c in dllm if c.limit is not None]
    if limited:
        logger.warning("left out of the public leaderboard files, run with --limit: %s", "; ".join(limited))
    return [c for c in dllm if c.limit is None]


def write_public_leaderboard(out: Path, configurations: list[Configuration], summary: dict) -> list[Path]:
    """`leaderboard/<model>.json` and `figures/<model>/<strategy>.csv` for every `dllm` model, from full runs only.

    PBx is computed again without the limited runs, so it can differ from the summary's (which counts
    them), and by the public leaderboard's rule (interpolated for adaptive strategies, see
    `analysis.pb_score_interpolated`); `summary` gives the thresholds.
    """
    written = []
    thresholds = summary["thresholds"]
    for model, configs in by_model(full_runs(configurations)).items():
        tasks = benchmark_tasks(configs)
        if not tasks:
            continue
        slug = model_slug(model)
        results = {}
        for strategy, members in sorted(by_strategy(configs).items()):
            path = out / "figures" / slug / f"{strategy}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)  # CRLF line ends, as the published files have
                writer.writerow(["task", "tps", "accuracy"])
                writer.writerows(figure_rows(members, tasks))
            written.append(path)
            results[strategy] = strategy_summary(members, tasks, thresholds)["leaderboard"]
        path = out / "leaderboard" / f"{slug}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        # as the published files: two-space indent, no newline at the end
        path.write_text(json.dumps({"thresholds": thresholds, "results": results}, indent=2), encoding="utf-8")
        written.append(path)
    return written
