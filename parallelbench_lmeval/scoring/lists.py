"""Waiting Line scoring: parse the list a model wrote, then apply the task's rule."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

_ITEM_EDGES = '" '  # the released parser strips double quotes and spaces only (a newline stays)
# Strict format: `"a", "b", ...` with nothing else between the brackets.
_STRICT_BODY = re.compile(r'"[^"]*"(?:, "[^"]*")*')
_STRICT_ITEM = re.compile(r'"([^"]*)"')
# The released tasks' `metric` names (task_config.yaml) for Waiting Line.
WAITING_LINE_RULES = (
    "list_match_score",
    "list_shuffle_score",
    "list_random_replace_score",
    "list_random_insert_score",
    "list_random_remove_score",
)


def parse_list(text: str) -> list[str]:
    """Lenient parse: after the last `[` up to the next `]` (either may be missing), split on commas.

    Items that are blank are dropped; the others lose surrounding double quotes and spaces (as
    the released parser: `""` stays as an empty item, a newline stays on its item). Single
    quotes are kept, so `['a']` never matches `["a"]`.
    """
    start = text.rfind("[")
    body = text[start + 1 :] if start >= 0 else text
    end = body.find("]")
    if end >= 0:
        body = body[:end]
    return [item.strip(_ITEM_EDGES) for item in body.split(",") if item.strip()]


def render_list(items: Sequence[str]) -> str:
    """The Waiting Line answer format, `["A B", "C D"]` (what `parse_list_strict` reads back)."""
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def parse_list_strict(text: str) -> list[str] | None:
    """Strict parse: both brackets, items exactly `"..."` joined by `", "`; None when the format is off."""
    start = text.rfind("[")
    if start < 0:
        return None
    end = text.find("]", start)
    if end < 0:
        return None
    body = text[start + 1 : end]
    if not _STRICT_BODY.fullmatch(body):
        return None
    return _STRICT_ITEM.findall(body)


def matches(prediction: Sequence[str], gold: Sequence[str]) -> bool:
    """Copy, Sort, Reverse and the Index tasks: the exact list."""
    return list(prediction) == list(gold)


def is_shuffle(prediction: Sequence[str], original: Sequence[str]) -> bool:
    """Same people (as a multiset) in a different order."""
    return Counter(prediction) == Counter(original) and list(prediction) != list(original)


def is_random_replace(prediction: Sequence[str], original: Sequence[str], new: str) -> bool:
    """The new person took exactly one place, at the position where it first appears; the rest kept."""
    prediction, original = list(prediction), list(original)
    if len(prediction) != len(original) or new not in prediction:
        return False
    at = prediction.index(new)
    return original[:at] + [new] + original[at + 1 :] == prediction


def is_random_insert(prediction: Sequence[str], original: Sequence[str], new: str) -> bool:
    """Taking out the first occurrence of the new person gives back the original line."""
    prediction = list(prediction)
    if new not in prediction:
        return False
    prediction.remove(new)
    return prediction == list(original)


def is_random_remove(prediction: Sequence[str], original: Sequence[str]) -> bool:
    """One person fewer, exactly one distinct original name missing, order kept."""
    prediction, original = list(prediction), list(original)
    if len(prediction) != len(original) - 1 or len(set(original) - set(prediction)) != 1:
        return False
    return any(original[:i] + original[i + 1 :] == prediction for i in range(len(original)))


def rule_holds(rule: str, prediction: Sequence[str], gold: Sequence[str], original: Sequence[str], new: str) -> bool:
    """Applies the released task's metric (`metric` in its task_config.yaml) to a parsed prediction."""
    if rule == "list_match_score":
        return matches(prediction, gold)
    if rule == "list_shuffle_score":
        return is_shuffle(prediction, original)
    if rule == "list_random_replace_score":
        return is_random_replace(prediction, original, new)
    if rule == "list_random_insert_score":
        return is_random_insert(prediction, original, new)
    if rule == "list_random_remove_score":
        return is_random_remove(prediction, original)
    raise ValueError(f"unknown Waiting Line rule {rule!r}; allowed: {', '.join(WAITING_LINE_RULES)}")


def waiting_line_scores(text: str, rule: str, gold: Sequence[str], original: Sequence[str], new: str = "") -> dict[str, float]:
    """`score` (lenient parse, the reported accuracy) and `score_strict` (strict format) for one output."""
    strict = parse_list_strict(text)
    return {
        "score": float(rule_holds(rule, parse_list(text), gold, original, new)),
        "score_strict": float(strict is not None and rule_holds(rule, strict, gold, original, new)),
    }
