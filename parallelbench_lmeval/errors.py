"""User mistakes: how every command line reports them, and "did you mean".

A mistake the user can fix (an unknown option, a bad value, a missing file, a missing extra)
raises ValueError, FileNotFoundError or a `UserError`, with a message that names the bad value
and the allowed ones. The command lines (`parallelbench ...`, `python -m
parallelbench_lmeval.tiny_models`, and `lm_eval --model dllm` through the autoload hook) print
such an error as one `error: ...` line and exit with status 2, as argparse does; anything else is
a bug and keeps its traceback. `PARALLELBENCH_DEBUG=1` (or `parallelbench --debug ...`) shows the
traceback of user errors too.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import sys
from collections.abc import Callable, Iterable, Iterator

DEBUG_ENV = "PARALLELBENCH_DEBUG"
USAGE_ERROR_STATUS = 2  # argparse's exit status for a bad command line


class UserError(Exception):
    """A problem the user fixes (install an extra, start a scorer), not a bug."""


class MissingExtra(UserError, ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


USER_ERRORS = (ValueError, FileNotFoundError, UserError)


def did_you_mean(values: str | Iterable[str], allowed: Iterable) -> str:
    """` (did you mean 'threshold'?)` for the given values that are close to one of `allowed`
    (difflib's closest match), `''` when none is."""
    values = [values] if isinstance(values, str) else [str(value) for value in values]
    choices = [str(choice) for choice in allowed]
    matches = [(value, close[0]) for value in values if (close := difflib.get_close_matches(value, choices, n=1))]
    if not matches:
        return ""
    if len(values) == 1:
        return f" (did you mean {matches[0][1]!r}?)"
    return " (did you mean " + ", ".join(f"{match!r} for {value!r}" for value, match in matches) + "?)"


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes")


def print_user_error(error: BaseException) -> int:
    """Prints `error: <message>` to stderr; returns the exit status."""
    print(f"error: {error}", file=sys.stderr)
    return USAGE_ERROR_STATUS


def run_command(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None,
                debug: bool = False) -> int:
    """`main(argv)`'s exit status; a user error is printed as one line (status 2) unless debugging."""
    try:
        return main(argv) or 0
    except USER_ERRORS as error:
        if debug or debugging():
            raise
        return print_user_error(error)


@contextlib.contextmanager
def user_errors_as_one_line() -> Iterator[None]:
    """For code run by a command line we do not own (lm_eval): a user error raised inside prints
    `error: <message>` and exits with status 2, unless debugging."""
    try:
        yield
    except USER_ERRORS as error:
        if debugging():
            raise
        raise SystemExit(print_user_error(error)) from None
