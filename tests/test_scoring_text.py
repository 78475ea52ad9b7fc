"""Text Writing metrics against the paper's definitions on hand-computed examples."""

import math

import pytest
from bert_score.utils import model2layers

from parallelbench_lmeval.scoring import text
from parallelbench_lmeval.scoring.scorers import SCORERS_ENV
from tasks_helpers import minilm_path

REFERENCE = "the cat sat on the mat"


def test_rouge_worked_example():
    # unigrams: 5 of 6 shared; bigrams: the-cat, on-the, the-mat of 5; LCS "the cat on the mat" = 5 of 6.
    scores = text.rouge_scores("  the cat is on the mat \n", REFERENCE)
    assert scores["rouge1"] == pytest.approx(5 / 6)
    assert scores["rouge2"] == pytest.approx(3 / 5)
    assert scores["rougeL"] == pytest.approx(5 / 6)


def test_rouge_stems_and_ignores_case():
    assert text.rouge_scores("Cats running", "cat run")["rouge1"] == pytest.approx(1.0)


def test_bleu_worked_example():
    # precisions 5/6, 3/5, 2/4, 1/3, equal lengths (no brevity penalty): (1/12) ** (1/4).
    assert text.sentence_bleu("the cat sat on a mat", REFERENCE) == pytest.approx((1 / 12) ** 0.25)
    assert text.sentence_bleu(REFERENCE, REFERENCE) == pytest.approx(1.0)


def test_bleu_brevity_penalty_and_no_smoothing():
    # all n-gram precisions 1, 5 tokens against 6: exp(1 - 6/5).
    assert text.sentence_bleu("the cat sat on the", REFERENCE) == pytest.approx(math.exp(1 - 6 / 5))
    # no 4-gram in a 3-token output: 0 without smoothing or effective order
    assert text.sentence_bleu("the cat sat", REFERENCE) == 0.0
    assert text.sentence_bleu("", REFERENCE) == 0.0


def test_inclusion_is_case_sensitive_substring():
    assert text.includes_all("Dogs love the park.", ["Dog", "park"])
    assert not text.includes_all("dogs love the park.", ["Dog", "park"])
    assert text.includes_all("anything", [])


def test_bertscore_with_a_local_model():
    scorer = text.bertscorer(*text.bertscore_settings(minilm_path(), 6))
    assert text.bertscore_f1(REFERENCE, REFERENCE, scorer) == pytest.approx(1.0, abs=1e-5)
    assert 0.0 < text.bertscore_f1("stock prices fell sharply today", REFERENCE, scorer) < 0.95


def test_bertscore_settings(monkeypatch):
    for name in (text.BERTSCORE_MODEL_ENV, text.BERTSCORE_LAYERS_ENV, SCORERS_ENV):
        monkeypatch.delenv(name, raising=False)
    assert text.bertscore_settings() == ("roberta-large", 17)  # the paper's: bert_score's tuned layer
    assert model2layers["roberta-large"] == 17
    assert text.bertscore_settings(scorers="offline") == (minilm_path(), 6)
    monkeypatch.setenv(SCORERS_ENV, "offline")
    assert text.bertscore_settings() == (minilm_path(), 6)
    assert text.bertscore_settings(num_layers=3) == (minilm_path(), 3)
    assert text.bertscore_settings("bert-base-uncased") == ("bert-base-uncased", 9)  # a known model: its own layer
    monkeypatch.setenv(text.BERTSCORE_MODEL_ENV, "/models/minilm")
    monkeypatch.setenv(text.BERTSCORE_LAYERS_ENV, "6")
    assert text.bertscore_settings() == ("/models/minilm", 6)
    for bad in ("six", "0", "-1", "2.5"):
        with pytest.raises(ValueError, match=f"positive integer, got '{bad}'"):
            text.bertscore_settings(num_layers=bad)
    monkeypatch.delenv(text.BERTSCORE_LAYERS_ENV)
    with pytest.raises(ValueError, match="'/models/minilm' has no known default layer: set PARALLELBENCH_BERTSCORE_LAYERS"):
        text.bertscore_settings()


def test_sentence_bleu_of_a_copy_is_exactly_one():
    # sacrebleu's geometric mean gives 100.00000000000004 here: 1 - BLEU would dip below 0
    sentence = "Any idea of what sweater this is?"
    assert text.sentence_bleu(sentence, sentence) == 1.0
