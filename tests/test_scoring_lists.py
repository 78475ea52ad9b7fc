"""Waiting Line parsing and rules on hand-made outputs (SPEC §3)."""

import pytest

from parallelbench_lmeval.scoring.lists import (
    is_random_insert,
    is_random_remove,
    is_random_replace,
    is_shuffle,
    parse_list,
    parse_list_strict,
    waiting_line_scores,
)

LINE = ["Ann Lee", "Bob Ray", "Cy Hall"]


@pytest.mark.parametrize(
    "text, lenient, strict",
    [
        ('["Ann Lee", "Bob Ray", "Cy Hall"]', LINE, LINE),
        ('Sure! ["x"] and then ["Ann Lee", "Bob Ray", "Cy Hall"]', LINE, LINE),  # the last `[` wins
        ('["Ann Lee", "Bob Ray", "Cy Hall"', LINE, None),  # missing `]`
        ('"Ann Lee", "Bob Ray", "Cy Hall"]', LINE, None),  # missing `[`
        ('["Ann Lee","Bob Ray", "Cy Hall"]', LINE, None),  # separator not exactly `", "`
        ("['Ann Lee', 'Bob Ray', 'Cy Hall']", ["'Ann Lee'", "'Bob Ray'", "'Cy Hall'"], None),  # single quotes kept
        ('[Ann Lee, Bob Ray, Cy Hall]', LINE, None),  # unquoted
        ('[ "Ann Lee" , , "Bob Ray", "Cy Hall", ]', LINE, None),  # empty items dropped
        ('["Ann Lee", "Bob Ray", "Cy Hall"] trailing ] text', LINE, LINE),
        ('[]', [], None),
        ("no list at all", ["no list at all"], None),
        ("", [], None),
    ],
)
def test_parsing(text, lenient, strict):
    assert parse_list(text) == lenient
    assert parse_list_strict(text) == strict


def test_strict_rejects_quotes_inside_items():
    assert parse_list_strict('["Ann "Lee", "Bob Ray"]') is None


def scores(text, rule, gold=(), original=LINE, new=""):
    return waiting_line_scores(text, rule, list(gold), list(original), new)


@pytest.mark.parametrize(
    "text, expected",
    [
        ('["Ann Lee", "Bob Ray", "Cy Hall"]', {"score": 1.0, "score_strict": 1.0}),
        ('["Ann Lee", "Bob Ray", "Cy Hall"', {"score": 1.0, "score_strict": 0.0}),
        ('["Bob Ray", "Ann Lee", "Cy Hall"]', {"score": 0.0, "score_strict": 0.0}),  # wrong order
        ('["Ann Lee", "Ann Lee", "Bob Ray", "Cy Hall"]', {"score": 0.0, "score_strict": 0.0}),  # duplicate
        ('["Ann Lee", "Bob Ray"]', {"score": 0.0, "score_strict": 0.0}),  # missing
        ('["Ann Lee", "Bob Ray", "Cy Hall", "Di Moe"]', {"score": 0.0, "score_strict": 0.0}),  # extra
        ("['Ann Lee', 'Bob Ray', 'Cy Hall']", {"score": 0.0, "score_strict": 0.0}),  # single quotes
        ('["Ann Lee", "Bob Ray", "Cy Hall"] or ["Bob Ray"]', {"score": 0.0, "score_strict": 0.0}),  # last list wins
    ],
)
def test_exact_match_rule(text, expected):
    assert scores(text, "list_match_score", gold=LINE) == expected


def test_shuffle_rule():
    assert is_shuffle(["Cy Hall", "Ann Lee", "Bob Ray"], LINE)
    assert not is_shuffle(LINE, LINE)  # the input order is not a shuffle
    assert not is_shuffle(["Cy Hall", "Ann Lee"], LINE)
    assert not is_shuffle(["Cy Hall", "Ann Lee", "Ann Lee"], LINE)
    assert not is_shuffle(["Cy Hall", "Ann Lee", "Bob Ray", "Di Moe"], LINE)
    assert scores('["Bob Ray", "Ann Lee", "Cy Hall"]', "list_shuffle_score")["score"] == 1.0


def test_random_replace_rule():
    assert is_random_replace(["Ann Lee", "New Guy", "Cy Hall"], LINE, "New Guy")
    assert is_random_replace(["New Guy", "Bob Ray", "Cy Hall"], LINE, "New Guy")
    assert not is_random_replace(LINE, LINE, "New Guy")  # new person missing
    assert not is_random_replace(["New Guy", "Ann Lee", "Cy Hall"], LINE, "New Guy")  # two changed
    assert not is_random_replace(["Ann Lee", "New Guy", "Bob Ray", "Cy Hall"], LINE, "New Guy")  # inserted
    assert not is_random_replace(["Cy Hall", "New Guy", "Ann Lee"], LINE, "New Guy")  # order changed
    assert not is_random_replace(["New Guy", "New Guy", "Cy Hall"], LINE, "New Guy")


def test_random_insert_rule():
    for at in range(len(LINE) + 1):
        assert is_random_insert(LINE[:at] + ["New Guy"] + LINE[at:], LINE, "New Guy")
    assert not is_random_insert(LINE, LINE, "New Guy")
    assert not is_random_insert(["New Guy", "Ann Lee", "Cy Hall", "Bob Ray"], LINE, "New Guy")
    assert not is_random_insert(["New Guy", "Ann Lee", "Bob Ray"], LINE, "New Guy")  # replaced, not inserted
    assert not is_random_insert(["New Guy", "New Guy"] + LINE, LINE, "New Guy")


def test_random_remove_rule():
    for at in range(len(LINE)):
        assert is_random_remove(LINE[:at] + LINE[at + 1 :], LINE)
    assert not is_random_remove(LINE, LINE)
    assert not is_random_remove(["Bob Ray", "Ann Lee"], LINE)  # order changed
    assert not is_random_remove(["Ann Lee"], LINE)  # two removed
    assert not is_random_remove(["Ann Lee", "Ann Lee"], LINE)  # duplicate instead of removal
    assert not is_random_remove(["Ann Lee", "Di Moe"], LINE)


def test_unknown_rule_names_the_allowed_ones():
    with pytest.raises(ValueError, match="unknown Waiting Line rule 'list_fuzzy'.*list_match_score"):
        scores("[]", "list_fuzzy")


def test_parsing_strips_quotes_and_spaces_only_as_the_released_parser():
    from parallelbench_lmeval.scoring.lists import parse_list

    # one name per line: the newlines stay on the items, so such a list never matches
    assert parse_list('[\n"Ann Clark",\n"Bob Lee"\n]') == ['\n"Ann Clark', '\n"Bob Lee"\n']
    # an item of bare quotes is not blank: it stays, as an empty name
    assert parse_list('["Ann Clark", "", "Bob Lee"]') == ["Ann Clark", "", "Bob Lee"]
    # blank items are dropped
    assert parse_list('["Ann Clark", , "Bob Lee",]') == ["Ann Clark", "Bob Lee"]
