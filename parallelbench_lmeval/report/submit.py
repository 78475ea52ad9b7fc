"""`parallelbench submit RESULTS... --out DIR`: one model's leaderboard submission, checked complete.

The public leaderboard (parallelbench.github.io) reads, per model, `data/leaderboard/<id>.json`
and `data/figures/<id>/<strategy>.csv` (the formats of `report/leaderboard.py`, byte for byte
as the published files: CSV with CRLF line ends, JSON with a two-space indent and no final
newline) and lists the model in `data/metadata.json`. A submission folder holds those files,
`metadata_entry.json` (the model's entry for `data/metadata.json`) and `submission.json`
(how every number was produced: package, lm-eval and transformers versions, the model's
revision, every configuration's decoding options and results files, the scorers).

A submission is refused, with every reason listed, when it could not stand beside the
published rows: a configuration that lacks one of the 17 tasks, a run made with `--limit`,
Text Writing scored by anything but the paper's scorers (LanguageTool and roberta-large
BERTScore), an unknown scorer (results written before scorers were recorded), or a strategy
with fewer than MIN_CONFIGURATIONS configurations (PBx of a strategy is read off its curve:
one or two points say little). The reasons are grouped (one line per reason, naming every
configuration it concerns), the refusal names `--allow_incomplete`, which writes such a folder
anyway, for a look at the files, marked `"complete": false` with the reasons; a refused
submission writes nothing.

A submission is one model. Results of several models, or of one model from several sweep
folders (two entries of a `parallelbench run` experiment with the same `pretrained`, say), are
never merged silently: `--model` must name one (a model name takes all its sweeps).

Strategy ids are the leaderboard's: a run made with `compat=parallelbench` (the benchmark's own
code, deliberate differences included; its report id ends in `+compat`) is written under the
strategy it reproduces, and WINO on ParallelBench's plain canvas is the leaderboard's `wino` (ours
on WINO-DLLM's extended canvas is `wino-extended`). `submission.json` records each configuration's
mode and report id; a submission warns, and records the warnings, when it was not made in compat
mode (its factor, KLASS or WINO numbers can differ from the benchmark code's) or mixes modes.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import defaultdict
from pathlib import Path

from parallelbench_lmeval.decoding.config import BLOCK_DIFFUSION_FAMILIES
from parallelbench_lmeval.errors import did_you_mean
from parallelbench_lmeval.report.analysis import by_model, by_strategy
from parallelbench_lmeval.report.leaderboard import write_public_leaderboard
from parallelbench_lmeval.report.runs import (
    COMPAT_SUFFIX,
    DLLM_ENGINE,
    LEADERBOARD_TASK_IDS,
    Configuration,
    load_configurations,
    model_slug,
)
from parallelbench_lmeval.report.sweep import SWEEP_RECORD

logger = logging.getLogger(__name__)

MIN_CONFIGURATIONS = 3
PAPER_GRAMMAR = "languagetool"
COMPAT_MODE = "parallelbench"
# report ids -> the leaderboard's: its `wino` rows are ParallelBench's plain-canvas WINO
LEADERBOARD_STRATEGIES = {"wino-plain": "wino", "wino": "wino-extended"}


def leaderboard_strategy(strategy: str) -> str:
    """A report strategy id as the public leaderboard names that decoding (see the module's docstring)."""
    strategy = strategy.removesuffix(COMPAT_SUFFIX)
    return LEADERBOARD_STRATEGIES.get(strategy, strategy)


def mode_warnings(configurations: list[Configuration]) -> list[str]:
    """Why the bundle's numbers may not be the benchmark code's: configurations decoded without
    compat=parallelbench, and strategies whose configurations ran in both modes."""
    warnings = []
    # block-diffusion models are decoded as their own generation functions: compat does not apply
    plain = [c for c in configurations if c.engine == DLLM_ENGINE and c.compat != COMPAT_MODE
             and not c.families & BLOCK_DIFFUSION_FAMILIES]
    if plain:
        strategies = ", ".join(sorted({c.strategy for c in plain}))
        warnings.append(f"{len(plain)} of {len(configurations)} configurations ({strategies}) were not decoded with "
                        f"compat={COMPAT_MODE}: where the benchmark's code has a quirk (the factor rule, KLASS's "
                        "fallback, WINO's canvas) their numbers can differ from the leaderboard's; rerun them with "
                        f"compat={COMPAT_MODE} for comparable rows")
    modes = {}
    for c in configurations:
        modes.setdefault(leaderboard_strategy(c.strategy), set()).add(c.compat)
    mixed = sorted(strategy for strategy, found in modes.items() if len(found) > 1)
    if mixed:
        warnings.append(f"strategies {', '.join(mixed)} mix configurations decoded with and without compat={COMPAT_MODE}")
    unnamed = sorted(strategy for strategy in modes if "+" in strategy)
    if unnamed:
        warnings.append(f"strategies {', '.join(unnamed)} carry options the public leaderboard's strategy ids do not "
                        "name (a cache, a step schedule other than the family's, ...): they are written under these ids")
    return warnings


def submission_problems(configurations: list[Configuration]) -> list[str]:
    """Why these configurations (one model's) cannot be submitted, one line per reason naming every
    configuration it concerns; empty when they can."""
    problems = []
    model = configurations[0].model
    if any(c.engine != DLLM_ENGINE for c in configurations):
        problems.append(f"{model} was not decoded by dllm: the leaderboard ranks diffusion decoding strategies")
    concerned = defaultdict(list)  # reason -> the configurations it concerns, in order
    for c in configurations:
        missing = [task for task in LEADERBOARD_TASK_IDS if task not in c.tasks]
        if missing:
            concerned[f"lacks {len(missing)} of the 17 tasks ({', '.join(missing)})"].append(c)
        if c.limit is not None:
            concerned[f"run with --limit {c.limit:g}, not on every item"].append(c)
        for task, result in sorted(c.tasks.items()):
            scored = result.scored_with
            if task in LEADERBOARD_TASK_IDS and LEADERBOARD_TASK_IDS[task].startswith("textwriting-"):
                if not scored:
                    concerned[f"{task} does not record its scorers (results written by an older version): "
                              "rerun it"].append(c)
                elif scored.get("grammar") != PAPER_GRAMMAR or not scored.get("comparable_with_paper", False):
                    concerned[f"{task} was scored with {scored.get('grammar')} grammar and "
                              f"{scored.get('bertscore_model', 'the default')} BERTScore, not the paper's LanguageTool "
                              "and roberta-large"].append(c)
    for reason, members in concerned.items():
        names = ", ".join(f"{c.strategy} {c.label}" for c in members)
        problems.append(f"{reason}: " + (names if len(members) == 1 else f"{len(members)} configurations ({names})"))
    for strategy, members in sorted(_by_leaderboard_strategy(configurations).items()):
        if len(members) < MIN_CONFIGURATIONS:
            problems.append(f"strategy {strategy} has {len(members)} configuration(s); PBx needs at least "
                            f"{MIN_CONFIGURATIONS} points of its accuracy-versus-tokens-per-step curve")
    return problems


def refusal(problems: list[str]) -> str:
    return (f"submission refused ({len(problems)} reason{'s' if len(problems) != 1 else ''}; nothing written):\n- "
            + "\n- ".join(problems)
            + "\nRun what is missing, or write the files anyway for a look with --allow_incomplete "
              '(marked "complete": false, with these reasons).')


def _scorers(configurations: list[Configuration]) -> dict:
    return {task: result.scored_with for c in configurations for task, result in sorted(c.tasks.items())
            if result.scored_with}


def submission_record(name: str, configurations: list[Configuration], problems: list[str],
                      warnings: list[str] = ()) -> dict:
    """submission.json: how every number of the submission was produced."""
    runs = [result.run for c in configurations for result in c.tasks.values()]
    versions = {key: sorted({str(run.get(key)) for run in runs if run.get(key) is not None})
                for key in ("parallelbench_lmeval_version", "lm_eval_version", "transformers_version", "model_revision")}
    modes = sorted({c.compat for c in configurations})
    return {
        "id": name,
        "model": configurations[0].model,
        "complete": not problems,
        "problems": problems,
        "compat": modes[0] if len(modes) == 1 else "mixed",
        "warnings": list(warnings),
        "versions": versions,
        "scorers": _scorers(configurations),
        "strategies": {
            strategy: [
                {"config": c.label, "options": c.options, "compat": c.compat, "report_strategy": c.strategy,
                 "results_files": sorted({result.run.get("results_file") for result in c.tasks.values()})}
                for c in members
            ]
            for strategy, members in sorted(_by_leaderboard_strategy(configurations).items())
        },
    }


def _by_leaderboard_strategy(configurations: list[Configuration]) -> dict[str, list[Configuration]]:
    grouped: dict[str, list[Configuration]] = {}
    for c in configurations:
        grouped.setdefault(leaderboard_strategy(c.strategy), []).append(c)
    return grouped


def metadata_entry(name: str, display_name: str, family: str | None, url: str | None, strategies: list[str]) -> dict:
    """The model's entry of the site's data/metadata.json (`models` list)."""
    return {"id": name, "family": family, "displayName": display_name, "url": url, "strategies": strategies}


def write_submission(out: Path, configurations: list[Configuration], name: str, display_name: str | None = None,
                     url: str | None = None, allow_incomplete: bool = False) -> list[Path]:
    problems = submission_problems(configurations)
    if problems and not allow_incomplete:
        raise ValueError(refusal(problems))
    if problems:
        logger.warning("incomplete submission written (marked complete: false):\n- %s", "\n- ".join(problems))
    warnings = mode_warnings(configurations)
    for warning in warnings:
        logger.warning(warning)
    out.mkdir(parents=True, exist_ok=True)
    model = configurations[0].model
    renamed = [Configuration(name, c.engine, c.options, c.tasks, c.sources, leaderboard_strategy(c.strategy))
               for c in configurations]
    written = write_public_leaderboard(out, renamed, {"thresholds": [80, 75, 70]})
    families = set().union(*(c.families for c in configurations))
    entry = metadata_entry(name, display_name or model, families.pop() if len(families) == 1 else None, url,
                           sorted(by_strategy(renamed)))
    for file_name, content in (("metadata_entry.json", entry),
                               ("submission.json", submission_record(name, configurations, problems, warnings))):
        (out / file_name).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
        written.append(out / file_name)
    return written


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parallelbench submit",
        description="Write one model's leaderboard submission (leaderboard/<id>.json, figures/<id>/<strategy>.csv, "
                    "metadata) from lm-eval results folders, refusing an incomplete one with its reasons.",
    )
    parser.add_argument("results", nargs="+", type=Path, help="lm-eval output folders (sweeps), searched recursively")
    parser.add_argument("--out", required=True, type=Path, help="submission folder")
    parser.add_argument("--model", help="the model to submit (needed when the results hold several)")
    parser.add_argument("--name", help="its id on the leaderboard (default: a file-safe form of the model name)")
    parser.add_argument("--display_name", help="its name as the leaderboard shows it (default: the model name)")
    parser.add_argument("--url", help="a link for the model (e.g. its Hugging Face page)")
    parser.add_argument("--allow_incomplete", action="store_true",
                        help="write an incomplete submission anyway, marked complete: false with its reasons")
    return parser


def sweep_folder(configuration: Configuration) -> Path | None:
    """The sweep folder (holding `sweep.json`) that a configuration's results come from, if any:
    results files lie at `<sweep>/<configuration>/<model>/results_<date>.json`."""
    for source in configuration.sources:
        for folder in source.parents[:3]:
            if (folder / SWEEP_RECORD).is_file():
                return folder
    return None


def choose_model(configurations: list[Configuration], model: str | None) -> tuple[str, list[Configuration]]:
    """The model to submit and its configurations. Without `model`, the results must hold one model
    from one sweep folder (or from plain lm-eval runs): two models, or one model from two sweeps
    (two entries of an experiment, say), are not merged unless `model` names it."""
    models = by_model(configurations)
    if not models:
        raise ValueError("no lm-eval results (results_*.json) found")
    if model is not None:
        if model not in models:
            raise ValueError(f"no results of model {model!r}{did_you_mean(model, models)}; found: {', '.join(models)}")
        return model, models[model]
    sources = {(c.model, sweep_folder(c)) for c in configurations}
    if len(sources) > 1:
        found = ", ".join(f"{name} (from {folder})" if folder else name for name, folder in sorted(sources, key=str))
        raise ValueError(f"the results hold several models or sweeps ({found}): choose one with --model NAME (it "
                         "takes every sweep of that model), or give submit the one sweep folder")
    (model,) = models
    return model, models[model]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    configurations = load_configurations(args.results)
    if not configurations:
        raise ValueError(f"no lm-eval results (results_*.json) found under {', '.join(map(str, args.results))}")
    model, chosen = choose_model(configurations, args.model)
    out = args.out
    written = write_submission(out, chosen, args.name or model_slug(model), args.display_name, args.url,
                               args.allow_incomplete)
    print(f"submission of {model} written to {out} ({len(written)} files)")
    return 0
