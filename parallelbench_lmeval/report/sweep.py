"""`parallelbench sweep`: load a model once and evaluate a grid of decoding configurations.

Each configuration gets its own standard lm-eval output folder, `OUTPUT/<config>/<model>/results_<date>.json`
(written by lm-eval's EvaluationTracker, as `lm_eval` writes it), with the decoding options in the
results' `config.gen_kwargs` and in `OUTPUT/<config>/sweep_config.json`. Beside it, per task, either
lm-eval's `samples_<task>_<date>.jsonl` (with `--log_samples`: documents, prompts, outputs) or, by
default, `scores_<task>_<date>.jsonl`: each item's `doc_id`, `filter` and metrics, all that the
report's per-item figures (the oracle) read, at a twentieth of the size.

The tasks are built once per sweep and the environment description (`pretty_env_info`, from
`pip list` and friends) gathered once: `evaluate_configuration` then runs lm-eval's `evaluate` per
configuration with what `simple_evaluate` would set (seeds, gen_kwargs, few-shot settings) and
assembles the same results.

A configuration is evaluated in `OUTPUT/.partial-<config>/` and renamed to `OUTPUT/<config>/`
only once every file is written (the rename is atomic), so an interrupted sweep restarted with
the same command skips what finished and redoes only the configuration it was in.

The sweep deletes nothing it did not write. It marks a `.partial-<config>/` folder as its own
(`sweep_started.json`) as soon as it creates it, and clears only marked ones (or empty ones).
It never deletes or replaces a `<config>/` folder: one without `sweep_config.json` is not a
finished configuration of a sweep, and the sweep refuses to run rather than touch it. These
checks, like every other refusal, come before the model is loaded.

`OUTPUT/sweep.json` records everything that changes what is evaluated (model, model_args,
tasks, limit, few-shot and chat settings, system instruction, task folder, seed, and the
environment variables that choose scoring backends), but not batch size or device: results
do not depend on them. It is written when the first configuration finishes, so a sweep that
fails before that leaves nothing that holds the folder, and a later sweep with other settings
is refused. A setting that an older sweep did not record counts as unset (None or False)
there: such a folder is accepted only while the new setting is unset too.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import random
import shutil
import time
from pathlib import Path

from lm_eval.utils import simple_parse_args_string

from parallelbench_lmeval.errors import did_you_mean
from parallelbench_lmeval.report import console
from parallelbench_lmeval.report.runs import OPTION_ORDER, PARTIAL_PREFIX, canonical_options, options_label
from parallelbench_lmeval.scoring.grammar import GRAMMAR_ENV, LANGUAGETOOL_URL_ENV
from parallelbench_lmeval.scoring.text import BERTSCORE_LAYERS_ENV, BERTSCORE_MODEL_ENV

logger = logging.getLogger(__name__)

TOPK_UNMASKING = ("random", "confidence", "margin", "entropy", "left_to_right")
K_VALUES = (1, 2, 4, 8, 16, 32)
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
FACTORS = (0.7, 0.9, 1.1, 1.3, 1.5, 1.7, 1.9)
BLOCK_LENGTHS = (2, 4, 8, 16, 32)
SEMI_AR_K = 2
# the newer methods' grids: ParallelBench's sweep values where it has them (docs/supported_combinations.md)
METHOD_GRIDS = {
    "klass": [{"sampler": "klass", "klass_conf_threshold": c, "klass_kl_threshold": 0.01, "klass_kl_history": 2}
              for c in (0.7, 0.8, 0.9, 0.95)],
    "slowfast": [{"sampler": "slowfast", "sf_high_confidence_threshold": t, "sf_cycle_confidence_threshold": 0.3}
                 for t in THRESHOLDS],
    "dus": [{"sampler": "dus", "block_length": b, "dus_base": 2, "dus_remasking_threshold": 0.3}
            for b in (1, 2, 4, 8, 16, 32)],
    "wino": [{"sampler": "wino", "wino_threshold": t, "wino_threshold_back": 0.9} for t in THRESHOLDS],
    "wino_plain": [{"sampler": "wino", "wino_canvas": "plain", "wino_threshold": t, "wino_threshold_back": 0.9}
                   for t in THRESHOLDS],
    # ours: EB-Sampler's bound from nearly one token per step to nearly all at once (its paper sweeps 1e-3..1)
    "eb": [{"sampler": "eb", "eb_gamma": g} for g in (0.001, 0.01, 0.1, 0.5, 1.0, 2.0)],
    # ours: tokens per step as the top-k grid, for PC-Sampler's confidence and random variants
    "pc": [{"sampler": "pc", "unmasking": u, "k": k} for u in ("confidence", "random") for k in K_VALUES],
    # ours: the remasking samplers over the top-k grid's tokens per step (ReMDM: one revision of one
    # token per block, the paper's best, Appendix F.3)
    "rcr": [{"sampler": "rcr", "k": k} for k in K_VALUES],
    "remdm": [{"sampler": "remdm", "k": k, "remdm_steps": 1, "remdm_number": 1} for k in K_VALUES],
    # ours: LLaDA2.1's editing over the threshold grid, at its editing threshold 0.9
    "edit": [{"sampler": "edit", "edit_unmask_threshold": t, "edit_threshold": 0.9} for t in THRESHOLDS],
}
GRIDS = ("topk", "threshold", "factor", "semi_ar", *METHOD_GRIDS)
DONE_MARKER = "sweep_config.json"
STARTED_MARKER = "sweep_started.json"
SWEEP_RECORD = "sweep.json"
# lm-eval's "additional config" of a model: given by the sweep's flags or in --model_args
MODEL_CONFIG_OPTIONS = ("batch_size", "max_batch_size", "device")
# They choose how outputs are scored, so results under different values must not mix
SCORING_ENVIRONMENT = (GRAMMAR_ENV, LANGUAGETOOL_URL_ENV, BERTSCORE_MODEL_ENV, BERTSCORE_LAYERS_ENV,
                       "PARALLELBENCH_SCORERS", "PARALLELBENCH_GRAMMAR_TIMEOUT")


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
    if grid in METHOD_GRIDS:
        return [dict(options) for options in METHOD_GRIDS[grid]]
    raise ValueError(f"unknown grid {grid!r}; allowed: {', '.join(GRIDS)}")


def config_name(options: dict) -> str:
    """A folder name for a configuration: `confidence_k2_block_length8`, `confidence_threshold0.9`,
    `wino_wino_threshold0.5_wino_threshold_back0.9`."""
    if not options:
        return "default"
    parts = [str(options.get("sampler", options.get("unmasking", "confidence")))]
    for key, value in options.items():
        if key not in ("unmasking", "sampler") or ("sampler" in options and key == "unmasking"):
            # repr for numbers: distinct floats never share a name
            parts.append(f"{key}{value}" if isinstance(value, str) else f"{key}{value!r}")
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
    unknown = sorted(set(options) - set(OPTION_ORDER))
    if unknown or not options:
        problem = f"unknown key(s) {unknown}{did_you_mean(unknown, OPTION_ORDER)}; " if unknown else ""
        raise ValueError(f"--config {text!r}: {problem}give key=value pairs among {', '.join(OPTION_ORDER)}")
    return options


def model_config(model_args: str, **flags) -> dict:
    """lm-eval's additional model config: the flags (batch_size, max_batch_size, device) that were
    given and that `--model_args` does not give already. One given differently in both is an error."""
    given = simple_parse_args_string(model_args)
    config = {}
    for key, value in flags.items():
        if value is None:
            continue
        if key not in given:
            config[key] = value
        elif str(given[key]) != str(value):
            raise ValueError(f"{key} is given twice with different values: {key}={given[key]} in --model_args "
                             f"and --{key} {value}; give it once")
    return config


def _evaluated_model_args(model_args: str) -> str:
    """`model_args` without the options that do not change results (batch size, device)."""
    items = [item for item in model_args.strip().split(",") if item]
    return ",".join(item for item in items if item.split("=")[0] not in MODEL_CONFIG_OPTIONS)


def sweep_record(args) -> dict:
    """Everything that changes what the sweep evaluates, as `sweep.json` records it."""
    return {
        "model": args.model, "model_args": _evaluated_model_args(args.model_args), "tasks": args.tasks,
        "limit": args.limit, "num_fewshot": args.num_fewshot, "apply_chat_template": args.apply_chat_template,
        "fewshot_as_multiturn": args.fewshot_as_multiturn, "system_instruction": args.system_instruction,
        "include_path": str(Path(args.include_path).resolve()) if args.include_path else None,
        "seed": args.seed, **{name: os.environ.get(name) for name in SCORING_ENVIRONMENT},
    }


def changed_settings(previous: dict, current: dict) -> list[str]:
    """The settings in which two sweep records differ. A key only one record has (an older sweep
    recorded fewer) matches only an unset value (None or False) in the other."""
    if "model_args" in previous:  # older sweeps recorded batch_size/device given in model_args
        previous = {**previous, "model_args": _evaluated_model_args(previous["model_args"])}
    changed = []
    for key in sorted(set(previous) | set(current)):
        if key in previous and key in current:
            differs = previous[key] != current[key]
        else:
            value = previous.get(key, current.get(key))
            differs = value is not None and value is not False
        if differs:
            changed.append(key)
    return changed


def _read_record(output: Path) -> dict | None:
    path = output / SWEEP_RECORD
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not a sweep record ({error}); use another --output_path") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path} is not a sweep record (not a JSON object); use another --output_path")
    return record


def _check_record(output: Path, record: dict) -> None:
    """A sweep folder holds one model/task set/limit/...: refuse to mix in results of another."""
    previous = _read_record(output)
    changed = changed_settings(previous, record) if previous is not None else []
    if changed:
        raise ValueError(
            f"{output} holds a sweep with other settings ({', '.join(changed)} differ: "
            f"{ {k: previous.get(k) for k in changed} } before, now { {k: record.get(k) for k in changed} }); "
            "use another --output_path"
        )


def _foreign_folder_error(path: Path, why: str) -> ValueError:
    return ValueError(f"{path} {why}; the sweep deletes nothing it did not write: "
                      "move or remove it yourself, or use another --output_path")


def _check_partial(partial: Path) -> None:
    """Refuses a `.partial-` path the sweep did not start: not a folder, or a non-empty one without
    its start marker (a run killed between creating the folder and marking it leaves it empty)."""
    if not os.path.lexists(partial):
        return
    if partial.is_symlink() or not partial.is_dir() or (
            not (partial / STARTED_MARKER).is_file() and any(partial.iterdir())):
        raise _foreign_folder_error(partial, f"was not started by a sweep (no {STARTED_MARKER})")


def _check_folders(output: Path, names: list[str]) -> None:
    """Refuses to run configurations whose folders hold something the sweep did not write."""
    for name in names:
        final = output / name
        if os.path.lexists(final):
            raise _foreign_folder_error(final, f"exists but is not a finished sweep configuration (no {DONE_MARKER})")
        _check_partial(output / f"{PARTIAL_PREFIX}{name}")


def _start_partial(partial: Path, name: str, options: dict) -> None:
    """A fresh working folder for one configuration, marked as the sweep's before anything else."""
    _check_partial(partial)  # again: something may have appeared since the sweep started
    if partial.exists():
        shutil.rmtree(partial)  # ours, left by an interrupted run: start this configuration over
    partial.mkdir(parents=True)
    (partial / STARTED_MARKER).write_text(json.dumps({"name": name, "options": options}, indent=2) + "\n",
                                          encoding="utf-8")


class SweepTasks:
    """The sweep's tasks and groups, loaded once (lm-eval reads, indexes and fingerprints every
    item: most of a second per configuration otherwise). `configured` sets them up for one
    configuration as `simple_evaluate` would: the YAML's generation_kwargs updated with the
    configuration's options (never those of the configuration before), the few-shot seed reset."""

    def __init__(self, task_manager, args):
        self.loaded = task_manager.load(args.tasks)
        self.seed = args.seed
        self.generation_kwargs = {}
        for name, task in self.loaded["tasks"].items():
            if task.get_config("output_type") == "generate_until":
                self.generation_kwargs[name] = copy.deepcopy(task.get_config("generation_kwargs"))
            default_num_fewshot = task.get_config("num_fewshot")
            if args.num_fewshot is not None and default_num_fewshot != 0:
                task.set_config(key="num_fewshot", value=args.num_fewshot)
            elif args.num_fewshot is None and default_num_fewshot is None:
                task.set_config(key="num_fewshot", value=0)

    def configured(self, options: dict) -> dict:
        for name, task in self.loaded["tasks"].items():
            if name in self.generation_kwargs:
                task.set_config(key="generation_kwargs", value={**copy.deepcopy(self.generation_kwargs[name]), **options})
            task.set_fewshot_seed(seed=self.seed)
        return self.loaded


def environment_record() -> dict:
    """What `simple_evaluate` adds to every results file about the machine (git hash, torch's
    environment report, versions); gathered once per sweep, its `pip list` alone takes a second."""
    from lm_eval.loggers.utils import add_env_info, get_git_commit_hash

    record = {"git_hash": get_git_commit_hash()}
    add_env_info(record)
    return record


def evaluate_configuration(lm, tasks: SweepTasks, options: dict, args, environment: dict) -> dict | None:
    """lm-eval's `simple_evaluate(model=lm, gen_kwargs=options, ...)` on the sweep's tasks, as the
    `lm_eval` command records it (model name and arguments, batch size); None on the processes of
    a data-parallel run other than the main one."""
    import numpy as np
    import torch
    from lm_eval import evaluator
    from lm_eval.loggers.utils import add_tokenizer_info

    started = time.time()
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    results = evaluator.evaluate(
        lm=lm,
        task_dict=tasks.configured(options),
        limit=args.limit,
        bootstrap_iters=args.bootstrap_iters,
        log_samples=True,  # the per-item scores; written in full only with --log_samples
        system_instruction=args.system_instruction,
        apply_chat_template=args.apply_chat_template,
        fewshot_as_multiturn=args.fewshot_as_multiturn,
    )
    if results is None:
        return None
    results["config"] = {
        "model": args.model,
        "model_args": args.model_args,
        **lm.get_model_info(),
        "batch_size": simple_parse_args_string(args.model_args).get("batch_size", args.batch_size),
        "batch_sizes": [],
        "device": args.device,
        "use_cache": None,
        "limit": args.limit,
        "bootstrap_iters": args.bootstrap_iters,
        "gen_kwargs": dict(options) or None,
        **{key: args.seed for key in ("random_seed", "numpy_seed", "torch_seed", "fewshot_seed")},
    }
    results["git_hash"] = environment["git_hash"]
    results["date"] = started
    results.update({key: value for key, value in environment.items() if key != "git_hash"})
    add_tokenizer_info(results, lm)
    return results


def write_item_scores(folder: Path, date_id: str, samples: dict) -> None:
    """`scores_<task>_<date>.jsonl` per task: each sample's doc_id, filter and metrics."""
    for task_name, rows in samples.items():
        with open(folder / f"scores_{task_name}_{date_id}.jsonl", "w", encoding="utf-8") as handle:
            for row in rows:
                scores = {"doc_id": row["doc_id"], "filter": row["filter"], **{m: row[m] for m in row["metrics"]}}
                handle.write(json.dumps(scores, ensure_ascii=False, separators=(",", ":")) + "\n")


def run_configuration(lm, options: dict, output: Path, args, tasks: SweepTasks, record: dict, environment: dict) -> Path | None:
    """Evaluates one configuration into `.partial-<name>/`, then renames it into place.

    `record`: the sweep's settings, written to `sweep.json` when the first configuration finishes;
    `environment`: `environment_record()`.
    """
    from lm_eval.loggers import EvaluationTracker

    name = config_name(options)
    partial = output / f"{PARTIAL_PREFIX}{name}"
    if lm.rank == 0:  # the other processes of a data-parallel run write nothing
        _start_partial(partial, name, options)
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
    results = evaluate_configuration(lm, tasks, options, args, environment)
    if results is None:  # not the main process of a data-parallel run: it writes nothing
        return None
    samples = results.pop("samples")
    tracker.save_results_aggregated(results=results, samples=samples)
    if args.log_samples:
        for task_name in results["configs"]:
            tracker.save_results_samples(task_name=task_name, samples=samples[task_name])
    else:
        write_item_scores(partial / general.model_name_sanitized, tracker.date_id, samples)
    # the tracker logs write errors instead of raising: check before calling the configuration done
    per_task = "samples_*.jsonl" if args.log_samples else "scores_*.jsonl"
    if not list(partial.rglob("results_*.json")) or len(list(partial.rglob(per_task))) < len(results["configs"]):
        raise RuntimeError(f"lm-eval did not write the results of configuration {name} under {partial}")
    done = {"name": name, "options": options, "label": options_label(options), "model": args.model,
            "model_args": args.model_args, "tasks": args.tasks, "limit": args.limit}
    (partial / DONE_MARKER).write_text(json.dumps(done, indent=2) + "\n", encoding="utf-8")
    if not (output / SWEEP_RECORD).exists():  # before the first rename: no finished configuration without it
        (output / SWEEP_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    final = output / name
    if os.path.lexists(final):  # appeared during the run: never replaced
        raise _foreign_folder_error(final, f"appeared while the sweep evaluated it in {partial}")
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
                        help="a preset grid (repeatable): topk (k per strategy), threshold, factor, semi_ar (block lengths "
                             "at k=2); the newer methods: klass, slowfast, dus, wino, wino_plain, eb, pc, rcr, remdm")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE,...",
                        help="an extra configuration, e.g. unmasking=margin,threshold=0.9 (repeatable)")
    parser.add_argument("--unmasking", help=f"strategies of the topk/semi_ar grids (default: {','.join(TOPK_UNMASKING)})")
    parser.add_argument("--k_values", help=f"k of the topk grid (default: {','.join(map(str, K_VALUES))})")
    parser.add_argument("--thresholds", help=f"threshold grid (default: {','.join(map(str, THRESHOLDS))})")
    parser.add_argument("--factors", help=f"factor grid (default: {','.join(map(str, FACTORS))})")
    parser.add_argument("--block_lengths", help=f"semi_ar grid (default: {','.join(map(str, BLOCK_LENGTHS))})")
    parser.add_argument("--limit", type=float, help="items per task (testing only; <1 is a fraction)")
    parser.add_argument("--batch_size", help="as for lm_eval (default: the model's); or batch_size= in --model_args")
    parser.add_argument("--max_batch_size", type=int, help="or max_batch_size= in --model_args")
    parser.add_argument("--device", help="or device= in --model_args")
    parser.add_argument("--num_fewshot", type=int)
    parser.add_argument("--apply_chat_template", nargs="?", const=True, default=False,
                        help="apply the model's chat template (optionally a template name)")
    parser.add_argument("--fewshot_as_multiturn", action="store_true")
    parser.add_argument("--system_instruction")
    parser.add_argument("--include_path", help="extra folder of task YAMLs")
    parser.add_argument("--bootstrap_iters", type=int, default=100000)
    parser.add_argument("--log_samples", action="store_true",
                        help="write lm-eval's samples files (documents, prompts, outputs, scores) for every "
                             "configuration; without it each task gets a scores_<task>_<date>.jsonl of per-item metrics")
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
        raise ValueError(f"nothing to sweep: give --grid ({', '.join(GRIDS)}) and/or --config")
    grid_values = {
        "unmasking": tuple(u for u in args.unmasking.split(",") if u) if args.unmasking else None,
        "k_values": _numbers(args.k_values, int) if args.k_values else None,
        "thresholds": _numbers(args.thresholds, float) if args.thresholds else None,
        "factors": _numbers(args.factors, float) if args.factors else None,
        "block_lengths": _numbers(args.block_lengths, int) if args.block_lengths else None,
    }
    configs = build_configs(args.grid, args.config, **grid_values)
    sweep(args, configs)
    if os.environ.get("RANK", "0") == "0":  # the other processes of a data-parallel run print nothing
        print(console.folder_summary(args.output_path))
    return 0


def task_manager_for(tasks: list[str], include_path: str | None):
    """A TaskManager that knows `tasks`: when they are all ParallelBench's (or the include path's),
    one that indexes only those folders; lm-eval's own thousands of task files take 7-15 s to index."""
    from lm_eval.tasks import TaskManager

    own = TaskManager(include_path=include_path, include_defaults=False)
    if all(own.match_tasks([task]) for task in tasks):
        return own
    return TaskManager(include_path=include_path)


def sweep(args, configs: list[dict], task_manager=None) -> list[Path]:
    """Checks everything it can, loads the model once, then evaluates each unfinished configuration.
    `task_manager`: an lm-eval TaskManager to reuse (indexing the tasks takes seconds)."""
    import lm_eval.api.registry
    from tqdm import tqdm

    from parallelbench_lmeval.lm_eval_logs import quiet_gen_kwargs_notice
    from parallelbench_lmeval.registration import MODEL_NAME, check_tasks, ensure_registered

    quiet_gen_kwargs_notice()  # every configuration is given as gen_kwargs, by design
    lm_config = model_config(args.model_args, batch_size=args.batch_size, max_batch_size=args.max_batch_size,
                             device=args.device)
    ensure_registered()
    output = args.output_path
    record = sweep_record(args)
    _check_record(output, record)
    todo = [o for o in configs if not (output / config_name(o) / DONE_MARKER).exists()]
    logger.info("%d of %d configurations to run (%d finished before)", len(todo), len(configs), len(configs) - len(todo))
    if not todo:
        return []
    _check_folders(output, [config_name(o) for o in todo])
    if args.model == MODEL_NAME:  # every configuration checked for the model's family before the first runs
        from lm_eval.utils import simple_parse_args_string

        from parallelbench_lmeval.models.dllm import check_model_args

        check_model_args(simple_parse_args_string(args.model_args), lm_config, configurations=todo)
    task_manager = task_manager or task_manager_for(args.tasks, args.include_path)
    check_tasks(task_manager, args.tasks)
    tasks = SweepTasks(task_manager, args)
    environment = environment_record()
    lm = lm_eval.api.registry.get_model(args.model).create_from_arg_string(args.model_args, lm_config)
    written = [run_configuration(lm, options, output, args, tasks, record, environment)
               for options in tqdm(todo, desc="configurations", unit="config")]
    return [path for path in written if path is not None]
