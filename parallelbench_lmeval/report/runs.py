"""Reading lm-eval output folders: `<output_path>/<model>/results_<date>.json` (+ `samples_<task>_<date>.jsonl`).

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

from parallelbench_lmeval.models.dllm import DECODING_OPTIONS

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
_INTEGER_OPTIONS = ("k", "steps", "block_length", "seed")
_FLOAT_OPTIONS = ("threshold", "factor", "temperature")

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


def canonical_options(*sources) -> dict:
    """Decoding options from `model_args`/`gen_kwargs` (strings or dicts), later sources winning.

    Values are normalised (k=2 and k=2.0 are the same configuration); a zero temperature is
    the default and is dropped.
    """
    options: dict = {}
    for source in sources:
        parsed = simple_parse_args_string(source) if isinstance(source, str) else dict(source or {})
        for key, value in parsed.items():
            if key in OPTION_ORDER and value is not None and value != "":
                options[key] = value
    for key in _INTEGER_OPTIONS:
        if key in options:
            options[key] = int(float(options[key]))
    for key in _FLOAT_OPTIONS:
        if key in options:
            options[key] = float(options[key])
    if options.get("temperature") == 0.0:
        del options["temperature"]
    if "unmasking" in options:
        options["unmasking"] = str(options["unmasking"])
    return {key: options[key] for key in OPTION_ORDER if key in options}


def strategy_id(engine: str, options: dict) -> str:
    """The leaderboard's strategy id (`confidence-topk`, `confidence-threshold`, `l2r`, ...)."""
    if engine != DLLM_ENGINE:
        return AUTOREGRESSIVE
    unmasking = options.get("unmasking", "confidence")
    if unmasking == "left_to_right":
        return LEFT_TO_RIGHT_STRATEGY
    if "threshold" in options:
        return f"{unmasking}-threshold"
    if "factor" in options:
        return f"{unmasking}-factor"
    return TOPK_STRATEGIES[unmasking]


def is_adaptive(options: dict) -> bool:
    return "threshold" in options or "factor" in options


def options_label(options: dict) -> str:
    """`k=2 block_length=8`: the options beyond the strategy itself ('default' when none)."""
    parts = [f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
             for key, value in options.items() if key != "unmasking"]
    return " ".join(parts) or "default"


def nominal_tokens_per_step(engine: str, options: dict, gen_length: int | None) -> float:
    """Tokens per step by construction (used when a run logged none): 1 for autoregressive
    models, k (or gen_length / steps) for top-k, unknown (nan) for adaptive rules."""
    if engine != DLLM_ENGINE:
        return 1.0
    if is_adaptive(options):
        return math.nan  # data-dependent: only a measurement can tell
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

    def item_scores(self) -> dict:
        """doc_id -> (score, tokens per step) from the samples file (needs `--log_samples`)."""
        if self.samples_file is None or self.accuracy_metric is None:
            raise ValueError(
                f"no samples file for task {self.task!r} next to its results; rerun with --log_samples"
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

    @property
    def strategy(self) -> str:
        return strategy_id(self.engine, self.options)

    @property
    def label(self) -> str:
        return options_label(self.options) if self.engine == DLLM_ENGINE else self.engine

    def nominal_k(self, task: str) -> float:
        return nominal_tokens_per_step(self.engine, self.options, self.tasks[task].gen_length)

    def block_length(self, task: str) -> int | None:
        """The semi-autoregressive block length (the whole canvas when none is set)."""
        return self.options.get("block_length") or self.tasks[task].gen_length

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
    options = canonical_options(config.get("model_args"), config.get("gen_kwargs")) if engine == DLLM_ENGINE else {}
    date = _date(results_file)
    tasks = {}
    for task, task_config in results.get("configs", {}).items():
        by_filter = _split_metrics(results.get("results", {}).get(task, {}))
        filter_name, accuracy_metric = _choose_filter(by_filter)
        metrics = by_filter.get(filter_name, {})
        gen_length = (task_config.get("generation_kwargs") or {}).get("max_gen_toks")
        gen_length = int(gen_length) if gen_length else None
        tps = metrics.get(TOKENS_PER_STEP_METRIC, nominal_tokens_per_step(engine, options, gen_length))
        samples_file = results_file.parent / f"samples_{task}_{date}.jsonl"
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
            samples_file=samples_file if samples_file.exists() else None,
        )
    return model, engine, options, tasks


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
