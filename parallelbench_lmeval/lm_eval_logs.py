"""Silences two lm-eval warnings that our own use of lm-eval causes, and that tell our users nothing.

- "<task>: Custom kwargs can be passed to `--metadata` ...": lm-eval logs it for every task whose
  items come from a Python function, i.e. once for each of our tasks in a run (12 for the
  Waiting Line and Puzzle groups). Dropped for the `parallelbench_*` tasks only
  (`task_yamls/utils.py` installs the filter when lm-eval loads our tasks).
- "generation_kwargs: ... Ensure 'do_sample=True' for non-greedy decoding!": lm-eval logs it
  whenever gen_kwargs are given, and `parallelbench sweep` gives each configuration's decoding
  options as gen_kwargs, greedy ones included; `dllm` ignores `do_sample` (its `temperature`
  alone decides). Dropped during sweeps (`report/sweep.py` installs the filter).
"""

from __future__ import annotations

import logging

TASK_LOGGER = "lm_eval.api.task"
EVALUATOR_LOGGER = "lm_eval.evaluator"
CUSTOM_DATASET_NOTICE = ": Custom kwargs can be passed to `--metadata`"
GEN_KWARGS_NOTICE = "generation_kwargs: %s specified through cli"
OUR_TASK_PREFIX = "parallelbench"


class _Drop(logging.Filter):
    """Drops the records whose (unformatted) message matches `rule`."""

    def __init__(self, rule):
        super().__init__()
        self.rule = rule

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.rule(str(record.msg))


def _install(logger_name: str, rule) -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, _Drop) and f.rule is rule for f in logger.filters):
        logger.addFilter(_Drop(rule))


def _our_custom_dataset_notice(message: str) -> bool:
    return message.startswith(OUR_TASK_PREFIX) and CUSTOM_DATASET_NOTICE in message


def _gen_kwargs_notice(message: str) -> bool:
    return message.startswith(GEN_KWARGS_NOTICE)


def quiet_custom_dataset_notice() -> None:
    _install(TASK_LOGGER, _our_custom_dataset_notice)


def quiet_gen_kwargs_notice() -> None:
    _install(EVALUATOR_LOGGER, _gen_kwargs_notice)
