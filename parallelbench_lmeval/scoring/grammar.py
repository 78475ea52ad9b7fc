"""The grammar score: 1 when the checker finds no issue in the stripped output, 0 otherwise.

Two backends, chosen by `PARALLELBENCH_GRAMMAR` (or the task metadata `grammar`):
- `languagetool` (default, the paper's): LanguageTool en-US with every rule on, spelling
  included, through language-tool-python. It runs a local Java server (Java >= 17; the
  library downloads LanguageTool on first use) or talks to a server named by
  `PARALLELBENCH_LANGUAGETOOL_URL` (or metadata `languagetool_url`).
- `harper`: Harper (harper-py), offline and Java-free, American English, default rules.
  Not the paper's checker, so its scores are not comparable with published numbers.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable

logger = logging.getLogger(__name__)

GRAMMAR_ENV = "PARALLELBENCH_GRAMMAR"
LANGUAGETOOL_URL_ENV = "PARALLELBENCH_LANGUAGETOOL_URL"
BACKENDS = ("languagetool", "harper")
DEFAULT_BACKEND = "languagetool"

_FIXES = {
    "languagetool": (
        "Install Java 17+ and let language-tool-python download LanguageTool once (needs network), "
        f"or point {LANGUAGETOOL_URL_ENV} at a running LanguageTool server (e.g. http://localhost:8081), "
        f"or use the offline Harper backend: {GRAMMAR_ENV}=harper (pip install harper-py)."
    ),
    "harper": "Install it with `pip install harper-py` (or `pip install parallelbench-lmeval[harper]`).",
}


class GrammarBackendError(RuntimeError):
    """The chosen grammar checker cannot run; the message says how to fix it."""


def grammar_settings(backend: str | None = None, languagetool_url: str | None = None) -> tuple[str, str]:
    """The backend name and LanguageTool server URL: arguments, else environment, else defaults."""
    backend = (backend or os.environ.get(GRAMMAR_ENV) or DEFAULT_BACKEND).strip().lower()
    if backend not in BACKENDS:
        raise ValueError(f"unknown grammar backend {backend!r} (from {GRAMMAR_ENV} or metadata `grammar`); allowed: {', '.join(BACKENDS)}")
    url = languagetool_url or os.environ.get(LANGUAGETOOL_URL_ENV) or ""
    return backend, url


def _languagetool(url: str) -> Callable[[str], int]:
    import language_tool_python

    tool = language_tool_python.LanguageTool("en-US", remote_server=url or None)
    return lambda text: len(tool.check(text))


def _harper() -> Callable[[str], int]:
    import harper

    linter = harper.Linter(harper.Dialect.AMERICAN)
    return lambda text: len(linter.lint(text, language=harper.Language.PLAINTEXT))


@functools.cache
def issue_counter(backend: str, languagetool_url: str = "") -> Callable[[str], int]:
    """A started checker (one per process and setting): text -> number of reported issues."""
    try:
        return _languagetool(languagetool_url) if backend == "languagetool" else _harper()
    except Exception as error:  # any start-up failure (no Java, no download, no server, not installed)
        raise GrammarBackendError(f"The {backend} grammar checker could not start: {error}\n{_FIXES[backend]}") from error


def grammar_score(text: str, backend: str, languagetool_url: str = "") -> float:
    """1.0 when the stripped text is non-empty and has no reported issue, else 0.0."""
    text = text.strip()
    if not text:
        return 0.0
    count_issues = issue_counter(backend, languagetool_url)  # start-up failures stop the run early, here
    try:
        return float(count_issues(text) == 0)
    except Exception as error:  # a checker failing on one text must not lose hours of generation
        logger.warning("%s grammar check failed on one output (scored 0): %s", backend, error)
        return 0.0
