"""Option values from lm-eval's strings (`--model_args k=2,seed=0`) or Python values.

Every parser names the option and the value it refused, so that a typo in a long command
line is found in the message, before anything is loaded.
"""

from __future__ import annotations

import math


def as_int(name: str, value) -> int:
    """An integer option from a number or lm-eval's string; 2.5, "two" or True name the option in the error."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def as_float(name: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


def as_bool(name: str, value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def is_unset(value) -> bool:
    """lm-eval passes a missing value as None, an empty string or the string "None"."""
    return value is None or value == "" or value == "None"


def optional(convert, name: str, value):
    return None if is_unset(value) else convert(name, value)


def optional_int(name: str, value) -> int | None:
    return optional(as_int, name, value)


def positive_int(name: str, value) -> int:
    number = as_int(name, value)
    if number <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return number


def non_negative_int(name: str, value) -> int:
    number = as_int(name, value)
    if number < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return number
