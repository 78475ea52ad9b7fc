"""The short table that `parallelbench sweep`, `run` and `report` print when they finish.

One row per model and strategy, built from the leaderboard summary (`leaderboard.build_summary`):
PBx, AUP, the number of configurations, the best mean accuracy and the tokens per step it was
reached at, and the most tokens per step of any configuration. The table shows whatever keys the rows
have, so a new column is one more key in `strategy_rows`.
"""

from __future__ import annotations

import math

from parallelbench_lmeval.report.leaderboard import build_summary
from parallelbench_lmeval.report.runs import load_configurations


def strategy_rows(summary: dict) -> list[dict]:
    """One dict per model and strategy of `summary`; None where nothing could be measured."""
    rows = []
    for model, entry in summary["models"].items():
        for strategy, result in entry["strategies"].items():
            points = [c for c in result["configurations"] if c["accuracy"] is not None and c["tokens_per_step"] is not None]
            best = max(points, key=lambda c: (c["accuracy"], c["tokens_per_step"]), default=None)
            rows.append({
                "model": model,
                "strategy": strategy,
                "configs": len(result["configurations"]),
                **{f"PB{x}": result[f"PB{x}"] for x in summary["thresholds"]},
                "AUP": result.get("AUP"),
                "best acc %": best and best["accuracy"],
                "tok/step at best": best and best["tokens_per_step"],
                "max tok/step": max((c["tokens_per_step"] for c in points), default=None),
            })
    return rows


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def format_table(rows: list[dict]) -> str:
    """Rows as aligned text columns (text left, numbers right), one header line."""
    if not rows:
        return ""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    numeric = [all(isinstance(row.get(column), (int, float)) or row.get(column) is None for row in rows)
               for column in columns]

    def line(values) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(columns), line("-" * w for w in widths), *(line(values) for values in cells)])


def summary_text(summary: dict) -> str:
    """The table with a line saying what PBx is, and a newline; empty when the summary has no strategy."""
    rows = strategy_rows(summary)
    if not rows:
        return ""
    thresholds = "/".join(str(x) for x in summary["thresholds"])
    return (f"PB{thresholds}: the most mean tokens per step at a mean accuracy of at least "
            f"{thresholds}% (over each model's tasks)\n{format_table(rows)}\n")


def folder_summary(folder) -> str:
    """`summary_text` of every result under `folder` (a sweep's, when it ends), and where they are."""
    return f"{summary_text(build_summary(load_configurations([folder])))}results in {folder}"
