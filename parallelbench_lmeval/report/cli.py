"""`parallelbench report RESULTS_DIR... --out DIR`: tables, figures and leaderboard files from lm-eval results."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from parallelbench_lmeval.report import console, leaderboard, plots, tables
from parallelbench_lmeval.report.runs import load_configurations


def _aliases(pairs: list[str]) -> dict[str, str]:
    aliases = {}
    for pair in pairs:
        name, sep, alias = pair.partition("=")
        if not sep or not name or not alias:
            raise ValueError(f"--alias takes MODEL=NAME (e.g. GSAI-ML/LLaDA-1.5=llada15), got {pair!r}")
        aliases[name] = alias
    return aliases


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parallelbench report",
        description="Read lm-eval output folders (dllm sweeps, hf runs, ...) and write the ParallelBench report.",
    )
    parser.add_argument("results", nargs="+", type=Path,
                        help="lm-eval output folders or results_*.json files (searched recursively)")
    parser.add_argument("--out", required=True, type=Path, help="folder for the report")
    parser.add_argument("--alias", action="append", default=[], metavar="MODEL=NAME",
                        help="show MODEL as NAME (also names its leaderboard files); repeatable")
    parser.add_argument("--no_plots", action="store_true", help="write tables and JSON only")
    return parser


def write_report(paths, out: Path, aliases: dict[str, str] | None = None, with_plots: bool = True) -> dict:
    """Writes every report file under `out`; returns the leaderboard summary."""
    configurations = load_configurations(paths, aliases)
    if not configurations:
        raise ValueError(f"no lm-eval results (results_*.json) found under {', '.join(map(str, paths))}")
    return write_report_of(configurations, out, with_plots)


def write_report_of(configurations, out: Path, with_plots: bool = True) -> dict:
    """The report of configurations already read (see `runs.load_configurations`)."""
    out.mkdir(parents=True, exist_ok=True)
    tables.write_csv(out / "tasks.csv", configurations)
    (out / "tasks.md").write_text(tables.markdown(configurations), encoding="utf-8")
    summary = leaderboard.build_summary(configurations)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (out / "leaderboard.md").write_text(leaderboard.summary_markdown(summary), encoding="utf-8")
    leaderboard.write_public_leaderboard(out, configurations, summary)
    if with_plots:
        figures = out / "plots"
        figures.mkdir(exist_ok=True)
        plots.accuracy_vs_tokens_per_step(figures, configurations)
        plots.average_accuracy_vs_tokens_per_step(figures, configurations, summary)
        plots.accuracy_vs_block_length(figures, configurations)
        plots.task_characterization(figures, summary["task_characterization"])
    return summary


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    summary = write_report(args.results, args.out, _aliases(args.alias), with_plots=not args.no_plots)
    print(f"{console.summary_text(summary)}report written to {args.out}")
    return 0
