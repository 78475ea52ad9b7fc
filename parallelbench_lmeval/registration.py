"""Registers the `dllm` model and the ParallelBench task folder with lm-eval."""

from __future__ import annotations

import functools
import inspect
import weakref
from pathlib import Path

from parallelbench_lmeval.errors import did_you_mean, user_errors_as_one_line
from parallelbench_lmeval.task_folder import task_dir

MODEL_NAME = "dllm"
MODEL_TARGET = "parallelbench_lmeval.models.dllm:DiffusionLM"
# how lm-eval's EvaluatorConfig.process_tasks starts its error for task names it does not know
LM_EVAL_TASKS_NOT_FOUND = "Tasks not found: "
# the TaskManager built last (a weak reference): its index names the tasks a misspelt name may mean
_last_task_manager = [lambda: None]


def register_model(registry_module) -> None:
    # lm-eval fills its registry with its own models only while the registry is empty;
    # fill it first, or registering `dllm` would hide `hf` and the rest
    import lm_eval.models  # noqa: F401

    if MODEL_NAME not in registry_module.model_registry:
        registry_module.model_registry.register(MODEL_NAME, target=MODEL_TARGET)


def include_tasks(manager_module) -> None:
    """Puts our task folder first on every TaskManager's include path (user paths still override),
    and lets it resolve generated task names (`parallelbench_gen_copy_n12`, see `generate`)."""
    from parallelbench_lmeval.generate.lm_eval_tasks import include_generated_tasks

    task_manager = manager_module.TaskManager
    include_generated_tasks(task_manager)
    original_init = task_manager.__init__
    if getattr(original_init, "_parallelbench", False):
        return
    signature = inspect.signature(original_init)

    @functools.wraps(original_init)
    def __init__(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        given = bound.arguments.get("include_path")
        paths = list(given) if isinstance(given, (list, tuple)) else ([given] if given else [])
        if not any(Path(p).resolve() == task_dir().resolve() for p in paths):
            paths.insert(0, str(task_dir()))
        bound.arguments["include_path"] = paths
        original_init(*bound.args, **bound.kwargs)
        _last_task_manager[0] = weakref.ref(bound.arguments["self"])

    __init__._parallelbench = True
    task_manager.__init__ = __init__


def unknown_tasks_error(unknown: list[str], known) -> ValueError:
    return ValueError(f"unknown task(s) {unknown}{did_you_mean(unknown, known)}; see `lm_eval ls tasks` "
                      "(ParallelBench: parallelbench, parallelbench_*)")


def check_tasks(task_manager, tasks: list[str]) -> None:
    """Refuses the task names (or YAML files) that `task_manager` does not know, naming close ones."""
    unknown = [task for task in tasks if not task_manager.match_tasks([task]) and not Path(task).is_file()]
    if unknown:
        raise unknown_tasks_error(unknown, task_manager.all_tasks)


def check_model_args_early(config_module) -> None:
    """`lm_eval` indexes every task it knows (seconds to minutes) before it builds the model: check
    dllm's arguments (and `--gen_kwargs`) first, so that a typo or a missing model folder fails at
    once. Such a mistake, and an unknown task name (with the names it may mean), ends the command
    with one `error: ...` line (see `errors.py`)."""
    config_class = config_module.EvaluatorConfig
    original = config_class.process_tasks
    if getattr(original, "_parallelbench", False):
        return

    @functools.wraps(original)
    def process_tasks(self, *args, **kwargs):
        if self.model == MODEL_NAME:
            from parallelbench_lmeval.models.dllm import check_model_args

            with user_errors_as_one_line():
                check_model_args(
                    dict(self.model_args or {}),
                    {"batch_size": self.batch_size, "max_batch_size": self.max_batch_size, "device": self.device},
                    self.gen_kwargs,
                )
        from parallelbench_lmeval.generate.families import parse_name

        names = self.tasks.split(",") if isinstance(self.tasks, str) else [t for task in self.tasks or () for t in task.split(",")]
        with user_errors_as_one_line():  # a generated name asking for the impossible, before any indexing
            for name in names:
                parse_name(name.strip())
        try:
            return original(self, *args, **kwargs)
        except ValueError as error:
            if not str(error).startswith(LM_EVAL_TASKS_NOT_FOUND):
                raise
            unknown = str(error)[len(LM_EVAL_TASKS_NOT_FOUND):].split(", ")
            task_manager = _last_task_manager[0]()
            with user_errors_as_one_line():
                raise unknown_tasks_error(unknown, task_manager.all_tasks if task_manager else []) from None

    process_tasks._parallelbench = True
    config_class.process_tasks = process_tasks


PATCHES = {
    "lm_eval.api.registry": register_model,
    "lm_eval.tasks.manager": include_tasks,
    "lm_eval.config.evaluate_config": check_model_args_early,
}


def patch(module) -> None:
    PATCHES[module.__name__](module)


def ensure_registered() -> None:
    """For entry points that may run without the `.pth` hook (editable installs, odd site setups)."""
    import lm_eval.api.registry
    import lm_eval.tasks.manager

    register_model(lm_eval.api.registry)
    include_tasks(lm_eval.tasks.manager)
