"""The grammar score: 1 when the checker finds no issue in the stripped output, 0 otherwise.

Two backends, chosen by `PARALLELBENCH_GRAMMAR` (or the task metadata `grammar`), else by the
`PARALLELBENCH_SCORERS` switch (`scorers.py`):
- `languagetool` (`paper`, the default): LanguageTool en-US with every rule on, spelling
  included, through language-tool-python. It runs a local Java server (Java >= 17; the
  library downloads LanguageTool on first use) or talks to a server named by
  `PARALLELBENCH_LANGUAGETOOL_URL` (or metadata `languagetool_url`).
- `harper` (`offline`): Harper (harper-py), offline and Java-free, American English, default
  rules, plus `sentence_issues`: two checks LanguageTool makes and Harper does not (a text with no
  word is no sentence; unpaired brackets or double quotes), without which Harper passes 2,000
  characters of `[`, NUL, zero-width spaces, RTL marks or emoji. Not the paper's checker, so its
  scores are not comparable with published numbers.

The checker runs in a worker process (`checker_worker.py`): a check that crashes it or takes
longer than `PARALLELBENCH_GRAMMAR_TIMEOUT` seconds (default 60) scores 0 and the run goes on.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
from collections.abc import Callable

from parallelbench_lmeval.scoring.checker_worker import CheckerStartError, IsolatedChecker
from parallelbench_lmeval.scoring.scorers import OFFLINE_INSTALL, OFFLINE_SWITCH, ScorerUnavailable, preset_grammar, scorer_preset

logger = logging.getLogger(__name__)

GRAMMAR_ENV = "PARALLELBENCH_GRAMMAR"
LANGUAGETOOL_URL_ENV = "PARALLELBENCH_LANGUAGETOOL_URL"
TIMEOUT_ENV = "PARALLELBENCH_GRAMMAR_TIMEOUT"
BACKENDS = ("languagetool", "harper")
DEFAULT_TIMEOUT_S = 60.0

_FIXES = {
    "languagetool": (
        "Install Java 17+ and let language-tool-python download LanguageTool once (needs network), "
        f"or point {LANGUAGETOOL_URL_ENV} at a running LanguageTool server (e.g. http://localhost:8081), "
        f"or score offline with Harper: {GRAMMAR_ENV}=harper, or {OFFLINE_SWITCH} for a fully offline run "
        f"(Harper and a MiniLM BERTScore; {OFFLINE_INSTALL}). Harper's scores are not comparable with the paper's."
    ),
    "harper": f"Install it with {OFFLINE_INSTALL} (or `pip install harper-py`).",
}


class GrammarBackendError(ScorerUnavailable):
    """The chosen grammar checker cannot run; the message says how to fix it."""


def grammar_settings(backend: str | None = None, languagetool_url: str | None = None, scorers: str | None = None) -> tuple[str, str]:
    """The backend name and LanguageTool server URL: arguments, else environment, else the `scorers` preset's."""
    preset = scorer_preset(scorers)  # checked even when overridden: a typo in the switch is never silent
    backend = (backend or os.environ.get(GRAMMAR_ENV) or preset_grammar(preset)).strip().lower()
    if backend not in BACKENDS:
        raise ValueError(f"unknown grammar backend {backend!r} (from {GRAMMAR_ENV} or metadata `grammar`); allowed: {', '.join(BACKENDS)}")
    url = languagetool_url or os.environ.get(LANGUAGETOOL_URL_ENV) or ""
    return backend, url


def check_timeout() -> float:
    """Seconds one check may take (`PARALLELBENCH_GRAMMAR_TIMEOUT`, default 60)."""
    value = os.environ.get(TIMEOUT_ENV)
    if not value:
        return DEFAULT_TIMEOUT_S
    try:
        seconds = float(value)
        valid = 0 < seconds < math.inf
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(f"{TIMEOUT_ENV} must be a positive number of seconds, got {value!r}")
    return seconds


# The factories run in the worker process (`IsolatedChecker` names them by import path).
def languagetool_checker(url: str = "") -> Callable[[str], int]:
    import language_tool_python

    tool = language_tool_python.LanguageTool("en-US", remote_server=url or None)
    return lambda text: len(tool.check(text))


def harper_checker() -> Callable[[str], int]:
    """Harper's lint count, after `sentence_issues` (Harper is not asked when they find one)."""
    import harper

    linter = harper.Linter(harper.Dialect.AMERICAN)
    return lambda text: sentence_issues(text) or len(linter.lint(text, language=harper.Language.PLAINTEXT))


CLOSING_BRACKETS = {")": "(", "]": "[", "}": "{"}
# what LanguageTool's unpaired-bracket rule does not count: smileys, list markers (`a)`, `2)`) opening a line
NOT_BRACKETS = re.compile(r"[:;]-?[()\[\]]|^\s*\w{1,2}\)", re.MULTILINE)
# LanguageTool skips its quote check in a text where a digit precedes a quote (3" is three inches)
INCHES = re.compile(r'\d"')


def sentence_issues(text: str) -> int:
    """What LanguageTool reports and Harper does not, as a number of issues: a text with no word (no
    letter: brackets, control, format and invisible characters, emoji, digits) is no sentence; each
    bracket (), [], {} left open or closed without its opening one counts (EN_UNPAIRED_BRACKETS),
    and so does an odd number of straight double quotes."""
    issues = 0 if any(character.isalpha() for character in text) else 1
    open_brackets = []
    for character in NOT_BRACKETS.sub("", text):
        if character in "([{":
            open_brackets.append(character)
        elif character in CLOSING_BRACKETS:
            if open_brackets and open_brackets[-1] == CLOSING_BRACKETS[character]:
                open_brackets.pop()
            else:
                issues += 1
    unpaired_quote = text.count('"') % 2 == 1 and not INCHES.search(text)
    return issues + len(open_brackets) + unpaired_quote


@functools.cache
def issue_counter(backend: str, languagetool_url: str = "") -> IsolatedChecker:
    """A started checker (one worker per process and setting): text -> number of reported issues."""
    args = [languagetool_url] if backend == "languagetool" else []
    try:
        return IsolatedChecker(f"{__name__}:{backend}_checker", args, timeout=check_timeout())
    except CheckerStartError as error:  # no Java, no download, no server, not installed
        raise GrammarBackendError(f"The {backend} grammar checker could not start: {error}\n{_FIXES[backend]}") from error


def grammar_score(text: str, backend: str, languagetool_url: str = "") -> float:
    """1.0 when the stripped text is non-empty and has no reported issue, else 0.0."""
    text = text.strip()
    if not text:
        return 0.0
    count_issues = issue_counter(backend, languagetool_url)  # start-up failures stop the run early, here
    try:
        return float(count_issues(text) == 0)
    except Exception as error:  # a checker failing on one text (raised, crashed, hung) must not lose hours of generation
        logger.warning("%s grammar check failed on one output (scored 0): %s", backend, error)
        return 0.0
