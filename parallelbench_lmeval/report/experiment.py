"""`parallelbench run EXPERIMENT.yaml`: several models on the same tasks, then one combined report.

An experiment file names the tasks and the models: diffusion models (`dllm`) with decoding
grids, and any other lm-eval model (`hf`, `vllm`, the chat-completions API backends):

    output_path: runs/llada15_vs_qwen25
    tasks: [parallelbench]
    apply_chat_template: true
    fewshot_as_multiturn: true
    batch_size: 8
    models:
      - name: llada15
        model: dllm
        model_args: pretrained=GSAI-ML/LLaDA-1.5,trust_remote_code=True
        grids: [topk, threshold]
        configs: ["unmasking=confidence,k=2,cache=prefix"]
      - name: qwen25_7b
        model: hf
        model_args: pretrained=Qwen/Qwen2.5-7B-Instruct

Every model is checked before the first one loads (model names, dllm options and decoding
configurations, tasks). The models then run one at a time, each loaded once, as a
`parallelbench sweep` into `<output_path>/<name>/` (so an interrupted experiment, run again,
skips every finished configuration), and the report of all of them goes to
`<output_path>/report/` (models shown under their `name`). Settings at the top level (tasks,
limit, few-shot and chat options, seed, batch size, device, include_path, system_instruction,
log_samples) apply to every model; a model entry may override batch_size, max_batch_size and device.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from parallelbench_lmeval.errors import did_you_mean
from parallelbench_lmeval.report import console
from parallelbench_lmeval.report import sweep as sweeps

logger = logging.getLogger(__name__)

SETTINGS = {  # top-level key -> default
    "output_path": None, "tasks": None, "models": None, "limit": None, "num_fewshot": None,
    "apply_chat_template": False, "fewshot_as_multiturn": False, "system_instruction": None,
    "include_path": None, "seed": 0, "batch_size": None, "max_batch_size": None, "device": None,
    "bootstrap_iters": 100000, "log_samples": False, "report": True,
}
MODEL_KEYS = ("name", "model", "model_args", "grids", "configs", "batch_size", "max_batch_size", "device")
DLLM = "dllm"


@dataclass
class ModelEntry:
    name: str
    model: str
    model_args: str = ""
    grids: list[str] = field(default_factory=list)
    configs: list[str] = field(default_factory=list)
    batch_size: object = None
    max_batch_size: int | None = None
    device: str | None = None


def _as_list(value, what: str) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [item for item in value.split(",") if item] if what == "tasks" else [value]
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a list, got {value!r}")
    return value


def _model_args(value) -> str:
    if isinstance(value, dict):
        return ",".join(f"{key}={item}" for key, item in value.items())
    return "" if value is None else str(value)


def _refuse_unknown(given: dict, allowed, what: str) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ValueError(f"{what} {unknown}{did_you_mean(unknown, allowed)}; allowed: {', '.join(allowed)}")


def parse_experiment(text: str, source: str = "experiment") -> tuple[dict, list[ModelEntry]]:
    """The settings and model entries of an experiment file, every key and value checked."""
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a mapping of settings with a `models` list")
    _refuse_unknown(data, SETTINGS, f"{source}: unknown setting(s)")
    settings = {key: data.get(key, default) for key, default in SETTINGS.items()}
    for required in ("output_path", "tasks", "models"):
        if not settings[required]:
            raise ValueError(f"{source}: `{required}` is required")
    settings["tasks"] = [str(task) for task in _as_list(settings["tasks"], "tasks")]
    entries, names = [], set()
    for index, raw in enumerate(_as_list(settings["models"], "models")):
        if not isinstance(raw, dict):
            raise ValueError(f"{source}: models[{index}] must be a mapping with at least `name` and `model`")
        _refuse_unknown(raw, MODEL_KEYS, f"{source}: models[{index}]: unknown key(s)")
        name, model = raw.get("name"), raw.get("model")
        if not name or not model:
            raise ValueError(f"{source}: models[{index}] needs `name` and `model` (an lm-eval model such as dllm or hf)")
        name = str(name)
        if not re.fullmatch(r"[A-Za-z0-9._-]+", name) or name == "report":
            raise ValueError(f"{source}: model name {name!r} must be letters, digits, '.', '_' or '-' (and not 'report')")
        if name in names:
            raise ValueError(f"{source}: two models are named {name!r}")
        names.add(name)
        entry = ModelEntry(name=name, model=str(model), model_args=_model_args(raw.get("model_args")),
                           grids=[str(g) for g in _as_list(raw.get("grids"), "grids")],
                           configs=[_model_args(c) for c in _as_list(raw.get("configs"), "configs")],
                           batch_size=raw.get("batch_size"), max_batch_size=raw.get("max_batch_size"),
                           device=raw.get("device"))
        if entry.model != DLLM and (entry.grids or entry.configs):
            raise ValueError(f"{source}: model {name!r} ({entry.model}): grids and configs are dllm decoding "
                             "options; other models run once")
        entries.append(entry)
    return settings, entries


def sweep_arguments(settings: dict, entry: ModelEntry) -> argparse.Namespace:
    """What `parallelbench sweep` would parse for this model."""
    def pick(key):
        value = getattr(entry, key)
        return settings[key] if value is None else value

    return argparse.Namespace(
        model=entry.model, model_args=entry.model_args, tasks=settings["tasks"],
        output_path=Path(settings["output_path"]) / entry.name, limit=sweeps._limit(settings["limit"]),
        batch_size=None if pick("batch_size") is None else str(pick("batch_size")),
        max_batch_size=pick("max_batch_size"), device=pick("device"), num_fewshot=settings["num_fewshot"],
        apply_chat_template=settings["apply_chat_template"], fewshot_as_multiturn=settings["fewshot_as_multiturn"],
        system_instruction=settings["system_instruction"], include_path=settings["include_path"],
        bootstrap_iters=settings["bootstrap_iters"], seed=settings["seed"], log_samples=bool(settings["log_samples"]),
    )


def configurations(entry: ModelEntry) -> list[dict]:
    """The decoding configurations a model runs: its grids and configs (dllm), or one run."""
    if entry.model != DLLM:
        return [{}]
    if not entry.grids and not entry.configs:
        return [{}]  # the engine's default: confidence, one token per step
    return sweeps.build_configs(entry.grids, entry.configs)


def entry_configurations(output: Path, entry: ModelEntry) -> list:
    """The results of one model entry, under the entry's name (lm-eval names a model after its
    pretrained/model argument, which two entries may share)."""
    from lm_eval.loggers.evaluation_tracker import GeneralConfigTracker

    from parallelbench_lmeval.report.runs import load_configurations

    recorded = GeneralConfigTracker._get_model_name(entry.model_args) or entry.model
    return load_configurations([output / entry.name], {recorded: entry.name})


def check_experiment(settings: dict, entries: list[ModelEntry]) -> tuple[dict[str, list[dict]], object]:
    """Everything that can be checked before a model loads; returns each model's configurations
    and the TaskManager that found the tasks."""
    import lm_eval.api.registry

    from parallelbench_lmeval.models.dllm import check_model_args
    from parallelbench_lmeval.registration import check_tasks, ensure_registered

    ensure_registered()
    planned = {}
    for entry in entries:
        try:
            lm_eval.api.registry.get_model(entry.model)
        except (KeyError, ValueError):
            known = sorted(lm_eval.api.registry.model_registry.keys())
            raise ValueError(f"model {entry.name!r}: unknown lm-eval model {entry.model!r}{did_you_mean(entry.model, known)}; "
                             f"known: {', '.join(known)}") from None
        args = sweep_arguments(settings, entry)
        flags = sweeps.model_config(args.model_args, batch_size=args.batch_size,
                                    max_batch_size=args.max_batch_size, device=args.device)
        planned[entry.name] = configurations(entry)
        if entry.model == DLLM:
            from lm_eval.utils import simple_parse_args_string

            check_model_args(simple_parse_args_string(args.model_args), flags, configurations=planned[entry.name])
    task_manager = sweeps.task_manager_for(settings["tasks"], settings["include_path"])
    check_tasks(task_manager, settings["tasks"])
    return planned, task_manager


def run_experiment(settings: dict, entries: list[ModelEntry]) -> Path | None:
    """Runs every model's configurations (finished ones are skipped), then writes the report."""
    from parallelbench_lmeval.report.cli import write_report_of

    planned, task_manager = check_experiment(settings, entries)
    output = Path(settings["output_path"])
    for entry in entries:
        logger.info("model %s (%s): %d configuration(s)", entry.name, entry.model, len(planned[entry.name]))
        sweeps.sweep(sweep_arguments(settings, entry), planned[entry.name], task_manager)
    if not settings["report"]:
        return None
    report = output / "report"
    write_report_of([c for entry in entries for c in entry_configurations(output, entry)], report)
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parallelbench run",
        description="Run several models (dllm with decoding grids, hf, vllm, API backends) on the same tasks, "
                    "one at a time, then write one report. Interrupted runs resume.",
    )
    parser.add_argument("experiment", type=Path, help="experiment file (YAML; see examples/experiments/)")
    parser.add_argument("--limit", type=float, help="items per task for every model (testing only)")
    parser.add_argument("--output_path", type=Path, help="overrides the file's output_path")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    settings, entries = parse_experiment(args.experiment.read_text(encoding="utf-8"), str(args.experiment))
    if args.limit is not None:
        settings["limit"] = args.limit
    if args.output_path is not None:
        settings["output_path"] = str(args.output_path)
    report = run_experiment(settings, entries)
    summary = console.summary_text(json.loads((report / "summary.json").read_text(encoding="utf-8"))) if report else ""
    print(f"{summary}results in {settings['output_path']}" + (f", report in {report}" if report else ""))
    return 0
