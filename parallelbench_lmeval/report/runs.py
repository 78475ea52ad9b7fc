"""Reading lm-eval output folders: `<output_path>/<model>/results_<date>.json` (+ `samples_<task>_<date>.jsonl`,
or a sweep's `scores_<task>_<date>.jsonl`).

A *configuration* is one model decoded one way (`dllm` options from `model_args` overridden
by `gen_kwargs`; other engines such as `hf` have one configuration each). Results files of
the same configuration are merged task by task, the newest file winning, so a benchmark run
in several `lm_eval` invocations reads as one.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from lm_eval.utils import simple_parse_args_string

from parallelbench_lmeval.decoding.config import (
    ADAPTIVE_SAMPLERS,
    DECODING_OPTIONS,
    SAMPLER_PARAMETERS,
    SAMPLERS,
    default_schedule,
    own_sampler_options,
)
from parallelbench_lmeval.options import as_float, as_int

# Metric names the tasks and the `dllm` model report (results JSON keys look like "pb_acc,none").
ACCURACY_METRIC = "pb_acc"
# Tasks outside ParallelBench (GSM8K, HumanEval in Fig. 6) are read through their usual metric.
FALLBACK_ACCURACY_METRICS = ("exact_match", "pass@1", "acc")
TOKENS_PER_STEP_METRIC = "tokens_per_step"
DLLM_ENGINE = "dllm"
# Folders a sweep is still writing; never read (see report/sweep.py).
PARTIAL_PREFIX = ".partial-"
# Options that name a decoding configuration, in the order labels show them.
OPTION_ORDER = (*DECODING_OPTIONS, "seed")
_INTEGER_OPTIONS = ("k", "steps", "block_length", "seed", "cache_refresh",
                    *(name for name, sampler in SAMPLER_PARAMETERS.items()
                      if SAMPLERS[sampler].parameters[name].parse is as_int))
_FLOAT_OPTIONS = ("threshold", "factor", "temperature", "dream_eps",
                  *(name for name, sampler in SAMPLER_PARAMETERS.items()
                    if SAMPLERS[sampler].parameters[name].parse is as_float))
# options at their default value name no configuration of their own
_DEFAULTS = {"temperature": 0.0, "sampler": "standard", "cache": "none", "cache_refresh": 0, "wino_canvas": "extended",
             "compat": "none"}
# a run decoded with compat=parallelbench (the benchmark's own code, deliberate differences included)
COMPAT_SUFFIX = "+compat"

TOPK_STRATEGIES = {"random": "random", "confidence": "confidence-topk", "entropy": "entropy-topk", "margin": "topk-margin"}
LEFT_TO_RIGHT_STRATEGY = "l2r"
AUTOREGRESSIVE = "autoregressive"

# The 17 leaderboard tasks by family; the leaderboard names a task `<family>-<name>`.
TASK_FAMILIES = {
    "waitingline": ("copy", "sort", "reverse", "shuffle", "replace_index", "replace_random",
                    "insert_index", "insert_random", "remove_index", "remove_random"),
    "textwriting": ("paraphrasing", "summarization", "w2s_easy", "w2s_medium", "w2s_hard"),
    "puzzles": ("latin_square", "sudoku"),
}
LEADERBOARD_TASK_IDS = {
    f"parallelbench_{name}": f"{family}-{name}" for family, names in TASK_FAMILIES.items() for name in names
}


def canonical_options(*sources, family: str | None = None) -> dict:
    """Decoding options from `model_args`/`gen_kwargs` (strings or dicts), later sources winning.

    Values are normalised (k=2 and k=2.0 are the same configuration); options at their default
    (a zero temperature; the `family`'s own top-k schedule, with its default eps) are dropped, and
    so are options of a sampler other than the one that ran (the model's defaults for that sampler,
    see `models.settings.check_decoding_defaults`).
    """
    options: dict = {}
    for source in sources:
        parsed = simple_parse_args_string(source) if isinstance(source, str) else dict(source or {})
        for key, value in parsed.items():
            if key in OPTION_ORDER and value is not None and value != "":
                options[key] = value
    options = own_sampler_options(options, str(options.get("sampler", "standard")))
    for key in _INTEGER_OPTIONS:
        if key in options:
            options[key] = int(float(options[key]))
    for key in _FLOAT_OPTIONS:
        if key in options:
            options[key] = float(options[key])
    for key in set(options) - set(_INTEGER_OPTIONS) - set(_FLOAT_OPTIONS):
        options[key] = str(options[key])
    for key, default in _DEFAULTS.items():
        if options.get(key) == default:
            del options[key]
    if options.get("dream_eps") == 0.0:
        del options["dream_eps"]
    if family is not None and "dream_eps" not in options and options.get("schedule") == default_schedule(family):
        del options["schedule"]
    return {key: options[key] for key in OPTION_ORDER if key in options}


def strategy_id(engine: str, options: dict) -> str:
    """The leaderboard's strategy id (`confidence-topk`, `confidence-threshold`, `l2r`, `klass`,
    `wino`, ...; a cached run adds its cache: `confidence-threshold+prefix`, a top-k run on another
    schedule than its family's (see `canonical_options`) that schedule: `confidence-topk+even-schedule`,
    and a run with compat=parallelbench `+compat`: `confidence-factor+compat`)."""
    if engine != DLLM_ENGINE:
        return AUTOREGRESSIVE
    cache = f"+{options['cache']}" if "cache" in options else ""
    schedule = f"+{options['schedule']}-schedule" if "schedule" in options else ""
    compat = COMPAT_SUFFIX if options.get("compat") == "parallelbench" else ""
    return _decoding_strategy(options) + cache + schedule + compat


def _decoding_strategy(options: dict) -> str:
    unmasking = options.get("unmasking", "confidence")
    sampler = options.get("sampler", "standard")
    if sampler == "eb":
        return f"{unmasking}-eb"
    if sampler == "pc":
        return f"{unmasking}-pc-sampler"  # the ids ParallelBench reserves for PC-Sampler
    if sampler == "wino" and (options.get("wino_canvas") == "plain" or options.get("compat") == "parallelbench"):
        return "wino-plain"  # compat runs the benchmark's WINO, on the plain canvas
    if sampler != "standard":
        return sampler
    if unmasking == "left_to_right":
        return LEFT_TO_RIGHT_STRATEGY
    if "threshold" in options:
        return f"{unmasking}-threshold"
    if "factor" in options:
        return f"{unmasking}-factor"
    return TOPK_STRATEGIES[unmasking]


def is_adaptive(options: dict) -> bool:
    """Whether a configuration's tokens per step depend on the model (no fixed schedule)."""
    return "threshold" in options or "factor" in options or options.get("sampler") in ADAPTIVE_SAMPLERS


def options_label(options: dict) -> str:
    """`k=2 block_length=8`: the options beyond the strategy itself ('default' when none)."""
    named_by_strategy = ("unmasking", "sampler", "cache", "wino_canvas", "schedule", "compat")
    parts = [f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
             for key, value in options.items() if key not in named_by_strategy]
    return " ".join(parts) or "default"


def nominal_tokens_per_step(engine: str, options: dict, gen_length: int | None) -> float:
    """Tokens per step by construction (used when a run logged none): 1 for autoregressive
    models, k (or gen_length / steps) for top-k, unknown (nan) for adaptive rules."""
    if engine != DLLM_ENGINE:
        return 1.0
    if is_adaptive(options) or options.get("sampler") in ("dus", "remdm"):
        return math.nan  # data-dependent, or steps beyond the schedule: only a measurement can tell
    if "k" in options:
        return float(options["k"])
    if "steps" in options and gen_length:
        return gen_length / options["steps"]
    return 1.0  # the engine's default: one token per step


@dataclass
class TaskResult:
    task: str
    metrics: dict[str, float]  # every numeric metric of the chosen filter (no stderr)
    accuracy: float  # fraction in [0, 1]; nan when the task reports no accuracy metric
    accuracy_metric: str | None
    tokens_per_step: float
    gen_length: int | None
    n_samples: int | None
    filter: str
    samples_file: Path | None
    # the run's `--limit` when it left items of this task out (None: every item was evaluated)
    limit: float | None = None
    # what scored the task's outputs (Text Writing: grammar checker, BERTScore model); None for others
    scored_with: dict | None = None
    # the run that produced this result: versions, model revision, decoding setup (see `run_record`)
    run: dict = field(default_factory=dict)

    def item_scores(self) -> dict:
        """doc_id -> (score, tokens per step) from the samples file (needs `--log_samples`) or the
        per-item scores file a sweep writes by default."""
        if self.samples_file is None or self.accuracy_metric is None:
            raise ValueError(
                f"no samples or scores file for task {self.task!r} next to its results; rerun with --log_samples"
            )
        items = {}
        with open(self.samples_file, encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                if row.get("filter", self.filter) != self.filter:
                    continue
                tps = row.get(TOKENS_PER_STEP_METRIC, self.tokens_per_step)
                items[row["doc_id"]] = (float(row[self.accuracy_metric]), float(tps))
        return items


@dataclass
class Configuration:
    model: str
    engine: str
    options: dict
    tasks: dict[str, TaskResult] = field(default_factory=dict)
    sources: list[Path] = field(default_factory=list)
    strategy_name: str | None = None  # another id than the options give (a submission's leaderboard ids)

    @property
    def strategy(self) -> str:
        return self.strategy_name or strategy_id(self.engine, self.options)

    @property
    def families(self) -> set[str]:
        """The model families its results record (none for engines other than dllm)."""
        return {result.run.get("family") for result in self.tasks.values()} - {None}

    @property
    def compat(self) -> str:
        """The decoding mode (`compat` option) the configuration ran with."""
        return self.options.get("compat", "none")

    @property
    def label(self) -> str:
        return options_label(self.options) if self.engine == DLLM_ENGINE else self.engine

    def nominal_k(self, task: str) -> float:
        return nominal_tokens_per_step(self.engine, self.options, self.tasks[task].gen_length)

    def block_length(self, task: str) -> int | None:
        """The semi-autoregressive block length (the whole canvas when none is set)."""
        return self.options.get("block_length") or self.tasks[task].gen_length

    @property
    def limit(self) -> float | None:
        """The `--limit` that left items out of its tasks (the smallest, should its runs differ); None for full runs."""
        return min((result.limit for result in self.tasks.values() if result.limit is not None), default=None)

    @property
    def semi_autoregressive(self) -> bool:
        return any(
            self.options.get("block_length") and self.options["block_length"] < (result.gen_length or math.inf)
            for result in self.tasks.values()
        )


def _split_metrics(task_results: dict) -> dict[str, dict[str, float]]:
    """{"pb_acc,none": 1, "pb_acc_stderr,none": ...} -> {"none": {"pb_acc": 1}} (numbers only)."""
    by_filter: dict[str, dict[str, float]] = {}
    for key, value in task_results.items():
        if "," not in key or "_stderr," in key or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        metric, filter_name = key.split(",", 1)
        by_filter.setdefault(filter_name, {})[metric] = float(value)
    return by_filter


def _choose_filter(by_filter: dict[str, dict[str, float]]) -> tuple[str, str | None]:
    for metric in (ACCURACY_METRIC, *FALLBACK_ACCURACY_METRICS):
        having = [name for name, metrics in by_filter.items() if metric in metrics]
        if having:
            return ("none" if "none" in having else having[0]), metric
    return ("none" if "none" in by_filter else next(iter(by_filter), "none")), None


def _model_name(results: dict) -> str:
    config = results.get("config", {})
    if results.get("model_name"):
        return str(results["model_name"])
    model_args = config.get("model_args")
    args = simple_parse_args_string(model_args) if isinstance(model_args, str) else dict(model_args or {})
    for key in ("pretrained", "model", "path", "engine"):
        if args.get(key):
            return str(args[key])
    return str(config.get("model", "unknown"))


def _task_limit(results: dict, task: str) -> float | None:
    """The run's `--limit` (lm-eval's `config.limit`) when it left items of `task` out.

    A limit at or above the task's size evaluates every item and does not count. Whole
    numbers come back as ints (lm-eval stores `--limit 3` as 3.0); below 1 it is a fraction.
    """
    limit = results.get("config", {}).get("limit")
    if limit is None:
        return None
    counts = results.get("n-samples", {}).get(task) or {}
    if counts.get("original") is not None and (counts.get("effective") or 0) >= counts["original"]:
        return None
    limit = float(limit)
    return int(limit) if limit.is_integer() else limit


def _date(results_file: Path) -> str:
    return results_file.stem[len("results_"):]


def find_results_files(paths) -> list[Path]:
    """Every `results_*.json` below the given folders (or the files themselves), oldest first."""
    found = []
    for path in map(Path, paths):
        if not path.exists():
            raise FileNotFoundError(f"results path {str(path)!r} does not exist")
        candidates = [path] if path.is_file() else path.rglob("results_*.json")
        found += [p for p in candidates if not any(part.startswith(PARTIAL_PREFIX) for part in p.parts)]
    return sorted(set(found), key=lambda p: (_date(p), str(p)))


def read_results_file(results_file: Path, aliases: dict[str, str] | None = None):
    """(model, engine, options, {task: TaskResult}) of one lm-eval results JSON."""
    results = json.loads(Path(results_file).read_text(encoding="utf-8"))
    config = results.get("config", {})
    engine = DLLM_ENGINE if DLLM_ENGINE in config or config.get("model") == DLLM_ENGINE else str(config.get("model"))
    model = _model_name(results)
    model = (aliases or {}).get(model, model)
    family = config.get("dllm", {}).get("family")
    options = (canonical_options(config.get("model_args"), config.get("gen_kwargs"), family=family)
               if engine == DLLM_ENGINE else {})
    date = _date(results_file)
    run = run_record(results, results_file)
    tasks = {}
    for task, task_config in results.get("configs", {}).items():
        by_filter = _split_metrics(results.get("results", {}).get(task, {}))
        filter_name, accuracy_metric = _choose_filter(by_filter)
        metrics = by_filter.get(filter_name, {})
        gen_length = (task_config.get("generation_kwargs") or {}).get("max_gen_toks")
        gen_length = int(gen_length) if gen_length else None
        tps = metrics.get(TOKENS_PER_STEP_METRIC, nominal_tokens_per_step(engine, options, gen_length))
        if task_config.get("output_type", "generate_until") != "generate_until":
            tps = math.nan  # a likelihood task decodes nothing
        # lm-eval's samples, or a sweep's per-item scores (the same rows without documents and outputs)
        samples_file = next((path for kind in ("samples", "scores")
                             if (path := results_file.parent / f"{kind}_{task}_{date}.jsonl").exists()), None)
        n_samples = (results.get("n-samples", {}).get(task) or {}).get("effective")
        tasks[task] = TaskResult(
            task=task,
            metrics=metrics,
            accuracy=metrics[accuracy_metric] if accuracy_metric else math.nan,
            accuracy_metric=accuracy_metric,
            tokens_per_step=float(tps),
            gen_length=gen_length,
            n_samples=n_samples,
            filter=filter_name,
            samples_file=samples_file,
            limit=_task_limit(results, task),
            scored_with=(task_config.get("dataset_kwargs") or {}).get("scored_with") or None,
            run=run,
        )
    return model, engine, options, tasks


def run_record(results: dict, results_file: Path) -> dict:
    """What a leaderboard submission records of the run behind a results file."""
    config = results.get("config", {})
    engine = config.get("dllm", {})
    return {
        "results_file": str(results_file),
        "date": results.get("date"),
        "lm_eval_version": results.get("lm_eval_version"),
        "transformers_version": results.get("transformers_version"),
        "parallelbench_lmeval_version": engine.get("package_version"),
        "model_args": config.get("model_args"),
        "model_revision": engine.get("revision"),
        "family": engine.get("family"),
        "gen_kwargs": config.get("gen_kwargs"),
        "limit": config.get("limit"),
    }


def load_configurations(paths, aliases: dict[str, str] | None = None) -> list[Configuration]:
    """All configurations found under `paths`, in first-seen order."""
    merged: dict[tuple, Configuration] = {}
    for results_file in find_results_files(paths):
        model, engine, options, tasks = read_results_file(results_file, aliases)
        key = (model, engine, tuple(options.items()))
        configuration = merged.setdefault(key, Configuration(model=model, engine=engine, options=options))
        configuration.tasks.update(tasks)  # files are read oldest first: the newest result wins
        configuration.sources.append(results_file)
    return list(merged.values())


def model_slug(model: str) -> str:
    """A file name for a model (`GSAI-ML/LLaDA-1.5` -> `GSAI-ML__LLaDA-1.5`, as lm-eval names folders)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "__", model)


def short_task_name(task: str) -> str:
    return re.sub(r"^parallelbench_", "", task)
