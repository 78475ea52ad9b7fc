"""The per-task tables: every configuration × task with its accuracy and tokens per step, and the
Kendall's tau of its decoding order.

These are files to read: numbers are rounded to DISPLAY_DIGITS significant digits (summary.json and
the lm-eval results keep full precision), and a strategy's configurations are ordered by their
option values, numerically (threshold 0.5, 0.6, ..., 1).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from parallelbench_lmeval.report.analysis import average_point, benchmark_tasks, by_model
from parallelbench_lmeval.report.runs import TASK_FAMILIES, Configuration, short_task_name

# limit: the run's `--limit` when it left items of the task out (empty for a full run)
CSV_COLUMNS = ("model", "engine", "strategy", "config", "task", "accuracy", "tokens_per_step", "n_samples", "limit")
FAMILY_TITLES = {"waitingline": "Waiting Line", "textwriting": "Text Writing", "puzzles": "Puzzles"}
ORDER_METRIC = "dec_order_kendall"
DISPLAY_DIGITS = 6


def _ordered(configurations: list[Configuration]) -> list[Configuration]:
    """Models as first seen; within a model, strategies, then option values (numbers compare as numbers)."""
    ordered = []
    for configs in by_model(configurations).values():
        ordered += sorted(configs, key=lambda c: (c.strategy, tuple(c.options.items())))
    return ordered


def _rounded(value):
    """A number as the CSV shows it: DISPLAY_DIGITS significant digits (1.7777777777777741 -> 1.77778)."""
    return float(f"{value:.{DISPLAY_DIGITS}g}") if isinstance(value, float) and math.isfinite(value) else value


def write_csv(path: Path, configurations: list[Configuration]) -> None:
    """Long format: one row per configuration and task, every numeric metric of the task as a column."""
    extra = sorted({metric for c in configurations for r in c.tasks.values() for metric in r.metrics} - set(CSV_COLUMNS))
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([*CSV_COLUMNS, *extra])
        for c in _ordered(configurations):
            for task, result in sorted(c.tasks.items()):
                writer.writerow([
                    c.model, c.engine, c.strategy, c.label, task, _rounded(100 * result.accuracy),
                    _rounded(result.tokens_per_step),
                    result.n_samples if result.n_samples is not None else "",
                    result.limit if result.limit is not None else "",
                    *(_rounded(result.metrics.get(metric, "")) for metric in extra),
                ])


def _config_cell(configuration: Configuration) -> str:
    """The configuration's label, flagged when it ran with `--limit`."""
    limit = configuration.limit
    return configuration.label if limit is None else f"{configuration.label} (--limit {limit:g})"


def _cell(configuration: Configuration, task: str) -> str:
    result = configuration.tasks.get(task)
    if result is None:
        return ""
    if math.isnan(result.tokens_per_step):  # a likelihood task: nothing decoded
        return f"{100 * result.accuracy:.1f}"
    return f"{100 * result.accuracy:.1f} ({result.tokens_per_step:.2f})"


def _family_sections(configurations: list[Configuration]) -> list[tuple[str, list[str]]]:
    present = {task for c in configurations for task in c.tasks}
    sections, known = [], set()
    for family, names in TASK_FAMILIES.items():
        tasks = [f"parallelbench_{name}" for name in names]
        known.update(tasks)
        if present.intersection(tasks):
            sections.append((FAMILY_TITLES[family], [t for t in tasks if t in present]))
    other = sorted(present - known)
    if other:
        sections.append(("Other tasks", other))
    return sections


def markdown(configurations: list[Configuration]) -> str:
    """Tables 5–7 style: a table per task family, rows = configurations, cells = accuracy % (tokens per step)."""
    ordered = _ordered(configurations)
    lines = ["Cells: accuracy in % (mean tokens per step). Autoregressive models decode 1 token per step.", ""]
    for title, tasks in _family_sections(configurations):
        lines += [f"### {title}", ""]
        lines.append("| model | strategy | config | " + " | ".join(short_task_name(t) for t in tasks) + " |")
        lines.append("|---|---|---|" + "---:|" * len(tasks))
        for c in ordered:
            if any(task in c.tasks for task in tasks):
                cells = " | ".join(_cell(c, t) for t in tasks)
                lines.append(f"| {c.model} | {c.strategy} | {_config_cell(c)} | {cells} |")
        lines.append("")
    lines += ["### Average over the leaderboard tasks each model ran", "",
              "| model | strategy | config | tasks | avg |", "|---|---|---|---:|---:|"]
    for model, configs in by_model(configurations).items():
        tasks = benchmark_tasks(configs)
        for c in ordered:
            point = average_point(c, tasks) if c.model == model else None
            if point is not None:
                average = f"{point[1]:.1f} ({point[0]:.2f})"
                lines.append(f"| {c.model} | {c.strategy} | {_config_cell(c)} | {len(tasks)} | {average} |")
    return "\n".join(lines + order_lines(ordered)) + "\n"


def order_lines(ordered: list[Configuration]) -> list[str]:
    """The decoding-order table: Kendall's tau of each task's decoding order against left to right
    (`dec_order_kendall`), for the configurations that logged it (`dllm` runs)."""
    logged = [c for c in ordered if any(ORDER_METRIC in r.metrics for r in c.tasks.values())]
    if not logged:
        return []
    tasks = [task for _, family in _family_sections(logged) for task in family
             if any(ORDER_METRIC in c.tasks[task].metrics for c in logged if task in c.tasks)]
    lines = ["", "### Decoding order", "",
             "Cells: Kendall's tau between the order in which positions were committed and left to right "
             "(1 = left to right, -1 = right to left; mean over the samples where it is defined). tasks.csv "
             "also has Spearman's rho and both without the padding tail (`_ignore_pad`).", "",
             "| model | strategy | config | " + " | ".join(short_task_name(t) for t in tasks) + " | mean |",
             "|---|---|---|" + "---:|" * (len(tasks) + 1)]
    for c in logged:
        values = [c.tasks[t].metrics.get(ORDER_METRIC) if t in c.tasks else None for t in tasks]
        cells = " | ".join("" if v is None else f"{v:.2f}" for v in values)
        present = [v for v in values if v is not None]
        lines.append(f"| {c.model} | {c.strategy} | {_config_cell(c)} | {cells} | {sum(present) / len(present):.2f} |")
    return lines
