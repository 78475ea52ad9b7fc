"""Text Writing scores through lm-eval's process_results on the released items (Harper, MiniLM offline)."""

import pytest

from tasks_helpers import loaded_tasks


@pytest.fixture(scope="module")
def tasks():
    return loaded_tasks()


def test_summarization(tasks):
    task = tasks["parallelbench_summarization"]
    doc = task.test_docs()[0]
    reference = "Steve and Rob will talk about new Dream Theater album, after they finish listening."
    assert doc["answer"] == reference
    scores = task.process_results(doc, [" " + reference + "\n"])
    assert scores["rougeL"] == scores["rouge1"] == scores["rouge2"] == pytest.approx(1.0)
    assert scores["score"] == pytest.approx(scores["rougeL"] * scores["grammar"])
    assert scores["pb_acc"] == scores["grammar"]
    empty = task.process_results(doc, [""])
    assert empty["grammar"] == empty["score"] == empty["rougeL"] == 0.0


def test_paraphrasing_is_scored_against_the_source(tasks):
    task = tasks["parallelbench_paraphrasing"]
    doc = task.test_docs()[0]
    copied = task.process_results(doc, ["Any idea of what sweater this is?"])
    assert copied["inv_bleu"] == pytest.approx(0.0) and copied["bertscore"] == pytest.approx(1.0, abs=1e-5)
    assert copied["score"] == pytest.approx(0.0)
    paraphrase = task.process_results(doc, ["Do you know what kind of sweater this is?"])
    assert paraphrase["grammar"] == 1.0 and paraphrase["inv_bleu"] > 0.5
    assert paraphrase["score"] == pytest.approx(paraphrase["inv_bleu"] * paraphrase["bertscore"])
    assert task.process_results(doc, ["  "]) == {"grammar": 0.0, "pb_acc": 0.0, "bertscore": 0.0, "inv_bleu": 0.0, "score": 0.0}


def test_words_to_sentence(tasks):
    task = tasks["parallelbench_w2s_easy"]
    doc = task.test_docs()[0]
    sentence = "I love to throw the ball for my dog at the park."
    assert doc["answer"] == sentence
    assert task.process_results(doc, [sentence]) == {"grammar": 1.0, "pb_acc": 1.0, "inclusion": 1.0, "score": 1.0}
    missing = task.process_results(doc, ["I love to throw the ball at the park."])
    assert missing["inclusion"] == missing["score"] == 0.0 and missing["grammar"] == 1.0


def test_decode_statistics_pass_through(tasks):
    from parallelbench_lmeval.stats import DecodedText

    task = tasks["parallelbench_copy"]
    doc = task.test_docs()[0]
    stats = {"nfe": 8.0, "tokens_per_step": 4.0, "gen_tokens": 20.0, "decode_seconds": 0.5}
    scores = task.process_results(doc, [DecodedText(doc["answer"], stats)])
    assert scores == {"score": 1.0, "score_strict": 1.0, "pb_acc": 1.0, **stats}
