"""`parallelbench sweep`: load a model once and evaluate a grid of decoding configurations.

Each configuration gets its own standard lm-eval output folder, `OUTPUT/<config>/<model>/results_<date>.json`
and `samples_<task>_<date>.jsonl` (written by lm-eval's EvaluationTracker), with the decoding
options in the results' `config.gen_kwargs` and in `OUTPUT/<config>/sweep_config.json`.

A configuration is evaluated in `OUTPUT/.partial-<config>/` and renamed to `OUTPUT/<config>/`
only once every file is written (the rename is atomic), so an interrupted sweep restarted with
the same command skips what finished and redoes only the configuration it was in.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
from pathlib import Path

from parallelbench_lmeval.report.runs import OPTION_ORDER, PARTIAL_PREFIX, canonical_options, options_label

logger = logging.getLogger(__name__)

TOPK_UNMASKING = ("random", "confidence", "margin", "entropy", "left_to_right")
K_VALUES = (1, 2, 4, 8, 16, 32)
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
FACTORS = (0.7, 0.9, 1.1, 1.3, 1.5, 1.7, 1.9)
BLOCK_LENGTHS = (2, 4, 8, 16, 32)
SEMI_AR_K = 2
GRIDS = ("topk", "threshold", "factor", "semi_ar")
DONE_MARKER = "sweep_config.json"
SWEEP_RECORD = "sweep.json"


def _numbers(text: str, convert) -> tuple:
    try:
        return tuple(convert(item) for item in text.split(",") if item.strip())
    except ValueError:
        raise ValueError(f"expected comma-separated numbers, got {text!r}") from None


def grid_configs(grid: str, unmasking=TOPK_UNMASKING, k_values=K_VALUES, thresholds=THRESHOLDS,
                 factors=FACTORS, block_lengths=BLOCK_LENGTHS) -> list[dict]:
    """The decoding options of one of the paper's grids (Sec. 6, Figs. 3, 5, 7)."""
    if grid == "topk":
        return [{"unmasking": u, "k": k} for u in unmasking for k in k_values]
    if grid == "threshold":
        return [{"unmasking": "confidence", "threshold": t} for t in thresholds]
    if grid == "factor":
        return [{"unmasking": "confidence", "factor": f} for f in factors]
    if grid == "semi_ar":
        return [{"unmasking": u, "k": SEMI_AR_K, "block_length": b}
                for u in unmasking if u != "left_to_right" for b in block_lengths]
    raise ValueError(f"unknown grid {grid!r}; allowed: {', '.join(GRIDS)}")


def config_name(options: dict) -> str:
    """A folder name for a configuration: `confidence_k2_block_length8`, `confidence_threshold0.9`."""
    if not options:
        return "default"
    parts = [str(options.get("unmasking", "confidence"))]
    for key, value in options.items():
        if key != "unmasking":
            parts.append(f"{key}{value!r}")  # repr: distinct floats never share a name
    return "_".join(parts)


def build_configs(grids, explicit, **grid_values) -> list[dict]:
    """Grids then explicit `key=value,...` configurations, checked, normalised, duplicates dropped."""
    from parallelbench_lmeval.decoding import DecodingConfig
    from parallelbench_lmeval.decoding.config import optional_int

    grid_values = {key: value for key, value in grid_values.items() if value is not None}
    candidates = [o for grid in grids for o in grid_configs(grid, **grid_values)] + [_parse_config(e) for e in explicit]
    configs, seen = [], set()
    for raw in candidates:
        # checked as given (k=2.5 is an error, not k=2), then normalised
        DecodingConfig.from_options(gen_length=None, **{k: v for k, v in raw.items() if k != "seed"})
        optional_int("seed", raw.get("seed"))
        options = canonical_options(raw)
        if config_name(options) not in seen:
            seen.add(config_name(options))
            configs.append(options)
    return configs


def _parse_config(text: str) -> dict:
    from lm_eval.utils import simple_parse_args_string

    options = simple_parse_args_string(text)
    unknown = set(options) - set(OPTION_ORDER)
    if unknown or not options:
        raise ValueError(f"--config {text!r}: give key=value pairs among {', '.join(OPTION_ORDER)}")
    return options


def _check_record(output: Path, record: dict, write: bool) -> None:
    """A sweep folder holds one model/task set/limit: refuse to mix in results of another.

    `write`: record these settings when the folder has none yet (once the tasks are known to exist).
    """
    path = output / SWEEP_RECORD
    if path.exists():
        previous = json.loads(path.read_text(encoding="utf-8"))
        if previous != record:
            changed = sorted(k for k in set(previous) | set(record) if previous.get(k) != record.get(k))
            raise ValueError(
                f"{output} holds a sweep with other settings ({', '.join(changed)} differ: "
                f"{ {k: previous.get(k) for k in changed} } before, now { {k: record.get(k) for k in changed} }); "
                "use another --output_path"
            )
    elif write:
        output.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def run_configuration(lm, options: dict, output: Path, args, task_manager) -> Path | None:
    """Evaluates one configuration into `.partial-<name>/`, then renames it into place."""
    from lm_eval import evaluator
    from lm_eval.loggers import EvaluationTracker

    name = config_name(options)
    partial = output / f"{PARTIAL_PREFIX}{name}"
    shutil.rmtree(partial, ignore_errors=True)  # left by an interrupted run: start this configuration over
    tracker = EvaluationTracker(output_path=str(partial))
    general = tracker.general_config_tracker
    general.log_experiment_args(
        model_source=args.model,
        model_args=args.model_args,
        system_instruction=args.system_instruction,
        chat_template=lm.chat_template(args.apply_chat_template) if args.apply_chat_template else None,
        fewshot_as_multiturn=args.fewshot_as_multiturn,
    )
    if not general._get_model_name(args.model_args):  # lm-eval would name the folder at random
        general.model_name = general.model_name_sanitized = args.model
    results = evaluator.simple_evaluate(
        model=lm,
        tasks=args.tasks,
        num_fewshot=args.num_fewshot,
        limit=args.limit,
        log_samples=True,
        system_instruction=args.system_instruction,
        apply_chat_template=args.apply_chat_template,
        fewshot_as_multiturn=args.fewshot_as_multiturn,
        gen_kwargs=dict(options) or None,
        task_manager=task_manager,
        bootstrap_iters=args.bootstrap_iters,
        random_seed=args.seed,
        numpy_random_seed=args.seed,
        torch_random_seed=args.seed,
        fewshot_random_seed=args.seed,
    )
    if results is None:  # not the main process of a data-parallel run: it writes nothing
        return None
    samples = results.pop("samples")
    # as `lm_eval --model NAME --model_args ...` would record it (a model object is recorded by class name)
    results["config"]["model"] = args.model
    results["config"]["model_args"] = args.model_args
    results["config"]["batch_size"] = args.batch_size
    tracker.save_results_aggregated(results=results, samples=samples)
    for task_name in results["configs"]:
        tracker.save_results_samples(task_name=task_name, samples=samples[task_name])
    # the tracker logs write errors instead of raising: check before calling the configuration done
    if not list(partial.rglob("results_*.json")) or len(list(partial.rglob("samples_*.jsonl"))) < len(results["configs"]):
        raise RuntimeError(f"lm-eval did not write the results of configuration {name} under {partial}")
    record = {"name": name, "options": options, "label": options_label(options), "model": args.model,
              "model_args": args.model_args, "tasks": args.tasks, "limit": args.limit}
    (partial / DONE_MARKER).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    final = output / name
    shutil.rmtree(final, ignore_errors=True)  # without its marker a folder is not finished: replace it
    os.replace(partial, final)
    return final


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parallelbench sweep",
        description="Load a model once and evaluate it under a grid of decoding configurations "
                    "(one lm-eval results folder per configuration; interrupted sweeps resume).",
    )
    parser.add_argument("--model", default="dllm", help="lm-eval model name (default: dllm)")
    parser.add_argument("--model_args", default="", help="options common to every configuration, e.g. pretrained=GSAI-ML/LLaDA-1.5")
    parser.add_argument("--tasks", required=True, help="comma-separated tasks or groups, e.g. parallelbench")
    parser.add_argument("--output_path", required=True, type=Path, help="sweep folder (one subfolder per configuration)")
    parser.add_argument("--grid", action="append", default=[], choices=GRIDS,
                        help="a preset grid (repeatable): topk (k per strategy), threshold, factor, semi_ar (block lengths at k=2)")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE,...",
                        help="an extra configuration, e.g. unmasking=margin,threshold=0.9 (repeatable)")
    parser.add_argument("--unmasking", help=f"strategies of the topk/semi_ar grids (default: {','.join(TOPK_UNMASKING)})")
    parser.add_argument("--k_values", help=f"k of the topk grid (default: {','.join(map(str, K_VALUES))})")
    parser.add_argument("--thresholds", help=f"threshold grid (default: {','.join(map(str, THRESHOLDS))})")
    parser.add_argument("--factors", help=f"factor grid (default: {','.join(map(str, FACTORS))})")
    parser.add_argument("--block_lengths", help=f"semi_ar grid (default: {','.join(map(str, BLOCK_LENGTHS))})")
    parser.add_argument("--limit", type=float, help="items per task (testing only; <1 is a fraction)")
    parser.add_argument("--batch_size", default="1")
    parser.add_argument("--max_batch_size", type=int)
    parser.add_argument("--device")
    parser.add_argument("--num_fewshot", type=int)
    parser.add_argument("--apply_chat_template", nargs="?", const=True, default=False,
                        help="apply the model's chat template (optionally a template name)")
    parser.add_argument("--fewshot_as_multiturn", action="store_true")
    parser.add_argument("--system_instruction")
    parser.add_argument("--include_path", help="extra folder of task YAMLs")
    parser.add_argument("--bootstrap_iters", type=int, default=100000)
    parser.add_argument("--seed", type=int, default=0, help="python/numpy/torch/fewshot seeds of every configuration")
    return parser


def _limit(value):
    return None if value is None else (int(value) if value >= 1 else value)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args.tasks = [t for t in args.tasks.split(",") if t]
    args.limit = _limit(args.limit)
    if not args.grid and not args.config:
        raise ValueError("nothing to sweep: give --grid (topk, threshold, factor, semi_ar) and/or --config")
    grid_values = {
        "unmasking": tuple(u for u in args.unmasking.split(",") if u) if args.unmasking else None,
        "k_values": _numbers(args.k_values, int) if args.k_values else None,
        "thresholds": _numbers(args.thresholds, float) if args.thresholds else None,
        "factors": _numbers(args.factors, float) if args.factors else None,
        "block_lengths": _numbers(args.block_lengths, int) if args.block_lengths else None,
    }
    configs = build_configs(args.grid, args.config, **grid_values)
    sweep(args, configs)
    return 0


def sweep(args, configs: list[dict]) -> list[Path]:
    """Checks everything it can, loads the model once, then evaluates each unfinished configuration."""
    import lm_eval.api.registry
    from lm_eval.tasks import TaskManager
    from tqdm import tqdm

    from parallelbench_lmeval.registration import ensure_registered

    ensure_registered()
    output = args.output_path
    record = {"model": args.model, "model_args": args.model_args, "tasks": args.tasks, "limit": args.limit,
              "num_fewshot": args.num_fewshot, "apply_chat_template": args.apply_chat_template,
              "fewshot_as_multiturn": args.fewshot_as_multiturn, "seed": args.seed}
    _check_record(output, record, write=False)
    todo = [o for o in configs if not (output / config_name(o) / DONE_MARKER).exists()]
    logger.info("%d of %d configurations to run (%d finished before)", len(todo), len(configs), len(configs) - len(todo))
    if not todo:
        return []
    task_manager = TaskManager(include_path=args.include_path)
    unknown = [t for t in args.tasks if not task_manager.match_tasks([t]) and not Path(t).is_file()]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; see `lm_eval ls tasks` (ParallelBench: parallelbench, parallelbench_*)")
    _check_record(output, record, write=True)
    lm = lm_eval.api.registry.get_model(args.model).create_from_arg_string(
        args.model_args, {"batch_size": args.batch_size, "max_batch_size": args.max_batch_size, "device": args.device}
    )
    written = [run_configuration(lm, options, output, args, task_manager)
               for options in tqdm(todo, desc="configurations", unit="config")]
    return [path for path in written if path is not None]
