"""The grammar score with its two backends; LanguageTool only where Java and a LanguageTool install exist."""

import os
import shutil
from pathlib import Path

import pytest

from parallelbench_lmeval.scoring import grammar
from parallelbench_lmeval.scoring.scorers import SCORERS_ENV


def test_harper_for_real():
    assert grammar.grammar_score("I love to throw the ball for my dog at the park.", "harper") == 1.0
    assert grammar.grammar_score("  I saw the the dog.\n", "harper") == 0.0  # repeated word
    assert grammar.grammar_score("   \n", "harper") == 0.0  # empty output scores 0


@pytest.mark.parametrize("text", [
    "[" * 1999, "\x00" * 1999, "\u200b" * 1999, "\u200f" * 1999, "\U0001F600" * 999, "1234 5678",
    "I love to throw the ball (for my dog.", "I love to throw the ball] for my dog.",
], ids=["brackets", "NUL", "zero-width spaces", "RTL marks", "emoji", "digits", "unclosed (", "unopened ]"])
def test_harper_fails_a_text_languagetool_would_flag(text):
    """Harper alone finds nothing wrong with any of these (no word at all, or an unpaired bracket)."""
    assert grammar.grammar_score(text, "harper") == 0.0


def test_sentence_issues_count_no_word_and_unpaired_brackets_and_quotes_only():
    assert grammar.sentence_issues("[" * 5) == 6  # five open brackets and no word
    assert grammar.sentence_issues("A ) b ( c.") == 2
    assert grammar.sentence_issues('He said "I love the ball.') == 1
    for fine in ("I love to throw the ball (for my [big] dog).", "a) The dog.\nb) The cat.", "What a day :)",
                 'It is 3" long, he said "yes".', "Ein schöner Tag.", "שלום"):
        assert grammar.sentence_issues(fine) == 0, fine


def test_settings_come_from_arguments_then_environment_then_the_scorers_switch(monkeypatch):
    for name in (grammar.GRAMMAR_ENV, grammar.LANGUAGETOOL_URL_ENV, SCORERS_ENV):
        monkeypatch.delenv(name, raising=False)
    assert grammar.grammar_settings() == ("languagetool", "")  # the paper's checker by default
    assert grammar.grammar_settings(scorers="offline") == ("harper", "")
    monkeypatch.setenv(SCORERS_ENV, "offline")
    assert grammar.grammar_settings() == ("harper", "")
    assert grammar.grammar_settings(scorers="paper") == ("languagetool", "")
    monkeypatch.setenv(grammar.GRAMMAR_ENV, "LanguageTool")  # a finer setting overrides the switch
    monkeypatch.setenv(grammar.LANGUAGETOOL_URL_ENV, "http://lt:8010")
    assert grammar.grammar_settings() == ("languagetool", "http://lt:8010")
    assert grammar.grammar_settings("harper", "http://other") == ("harper", "http://other")


def test_bad_backend_name_lists_the_allowed_ones(monkeypatch):
    monkeypatch.setenv(grammar.GRAMMAR_ENV, "grammarly")
    with pytest.raises(ValueError, match="unknown grammar backend 'grammarly'.*allowed: languagetool, harper"):
        grammar.grammar_settings()


def test_languagetool_that_cannot_start_says_how_to_fix():
    with pytest.raises(grammar.GrammarBackendError, match="could not start") as error:
        grammar.issue_counter("languagetool", "http://127.0.0.1:9")
    assert grammar.LANGUAGETOOL_URL_ENV in str(error.value) and "PARALLELBENCH_GRAMMAR=harper" in str(error.value)
    assert "PARALLELBENCH_SCORERS=offline" in str(error.value) and 'pip install "parallelbench-lmeval[offline]"' in str(error.value)


def languagetool_missing_reason() -> str | None:
    if os.environ.get(grammar.LANGUAGETOOL_URL_ENV):
        return None
    if shutil.which("java") is None:
        return "no Java on PATH (LanguageTool needs Java 17+)"
    folder = Path(os.environ.get("LTP_PATH", Path.home() / ".cache" / "language_tool_python"))
    if not any(folder.glob("LanguageTool*")):
        return f"no LanguageTool install under {folder} (language-tool-python downloads it on first use; no network here)"
    return None


@pytest.mark.skipif(languagetool_missing_reason() is not None, reason=str(languagetool_missing_reason()))
def test_languagetool_for_real():
    url = os.environ.get(grammar.LANGUAGETOOL_URL_ENV, "")
    assert grammar.grammar_score("I love to throw the ball for my dog at the park.", "languagetool", url) == 1.0
    assert grammar.grammar_score("He go to school yesterday.", "languagetool", url) == 0.0
    assert grammar.grammar_score("", "languagetool", url) == 0.0


def test_a_checker_failing_at_scoring_time_scores_zero_and_does_not_raise(monkeypatch, caplog):
    from parallelbench_lmeval.scoring import grammar

    def broken(text):
        raise ConnectionError("LanguageTool server went away")

    monkeypatch.setattr(grammar, "issue_counter", lambda backend, url="": broken)
    assert grammar.grammar_score("A fine sentence.", "languagetool") == 0.0
    assert "LanguageTool server went away" in caplog.text
