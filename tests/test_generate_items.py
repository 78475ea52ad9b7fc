"""The generators: the released items' format and statistics, determinism, no released question, gold = 1.0."""

import json
import statistics

import pytest

from parallelbench_lmeval.generate.families import FAMILIES, WAITING_LINE_OPS, family, parse_name
from parallelbench_lmeval.generate.items import generate_items, overlaps_released, question_key, released_keys, word_list_text
from parallelbench_lmeval.generate.lm_eval_tasks import glue_function
from parallelbench_lmeval.generate.sources import LATIN_SQUARE_SYMBOLS, people, released_config, w2s_words
from parallelbench_lmeval.scoring import lists, text
from tasks_helpers import released_items


def shape(value):
    """The structure of an item: keys and value types, recursively (list elements by their first)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items() if key != "icl_examples"}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def answer_list(item) -> list[str]:
    answer = item["answer"]
    return json.loads(answer if isinstance(answer, str) else answer["example"])


def gold_score(item: dict, config_key: str) -> float:
    """The item's stored answer through the task glue's real scorers (what lm-eval's process_results calls)."""
    config = released_config(config_key)
    doc = glue_function("item_to_doc")(item, config["prompt"], config["metric"])
    return glue_function("item_scores")(doc["answer"], doc)["score"]


# ---------------------------------------------------------------- the released format and statistics
@pytest.mark.parametrize("op", WAITING_LINE_OPS)
@pytest.mark.parametrize("n, folder", [(5, "waiting_line"), (15, "waiting_line_n15")])
def test_waiting_line_items_look_like_the_released_ones(op, n, folder):
    released = [item for item in released_items(f"{folder}/{op}") if item["metadata"]["length"] == n]
    generated = generate_items(family(op), n)
    assert len(released) in (25, 100) and len(generated) == 100
    assert {json.dumps(shape(item)) for item in generated} == {json.dumps(shape(item)) for item in released}
    pool = set(people())
    for items in (released, generated):
        lengths = {len(answer_list(item)) for item in items}
        assert lengths == {n + 1} if op.startswith("insert") else {n - 1} if op.startswith("remove") else {n}
        for item in items:
            line = json.loads(item["input"]["context"])
            assert len(line) == len(set(line)) == n and set(line) <= pool
            assert item["input"]["context"] == lists.render_list(line)  # ["A B", "C D"], exactly
            assert item["input"].get("word") not in line
            example = item["input"]["icl_examples"][0]
            assert set(json.loads(example["input"]["context"])) <= pool
    if n == 15:  # the released 15-person examples are 15 people too; the 3-6 person ones draw 3-6
        assert {len(json.loads(i["input"]["icl_examples"][0]["input"]["context"])) for i in generated + released} == {15}
    name_length = {label: statistics.mean(len(name) for i in items for name in json.loads(i["input"]["context"]))
                   for label, items in (("released", released), ("generated", generated))}
    assert abs(name_length["released"] - name_length["generated"]) < (1.0 if n == 5 else 0.5), name_length


@pytest.mark.parametrize("op", ["replace_index", "insert_index", "remove_index"])
def test_positions_are_zero_based_over_the_released_range(op):
    generated = generate_items(family(op), 5, count=300)
    released = [item for item in released_items(f"waiting_line/{op}") if item["metadata"]["length"] == 5]
    top = 5 if op == "insert_index" else 4
    assert {item["input"]["index"] for item in generated} == set(range(top + 1))
    assert {item["input"]["index"] for item in released} <= set(range(top + 1))


def test_random_answers_and_sort_follow_the_released_rules():
    for item in generate_items(family("shuffle"), 5):
        assert sorted(answer_list(item)) == sorted(item["answer"]["input"]) and answer_list(item) != item["answer"]["input"]
    for item in generate_items(family("sort"), 5):
        assert answer_list(item) == sorted(json.loads(item["input"]["context"]))  # whole "First Last" strings


def test_puzzles_look_like_the_released_ones():
    latin, released_latin = generate_items(family("latin_square"), 4), released_items("puzzle/latin_square_n4")
    sudoku, released_sudoku = generate_items(family("sudoku"), 4, count=108), released_items("puzzle/sudoku_n4_12")
    for generated, released in ((latin, released_latin), (sudoku, released_sudoku)):
        assert {json.dumps(shape(item)) for item in generated} == {json.dumps(shape(item)) for item in released}
        assert {json.dumps(shape(i["input"]["icl_examples"][0])) for i in generated} == {
            json.dumps(shape(i["input"]["icl_examples"][0])) for i in released}
    for item in latin:
        symbols = item["answer"]["symbols"]
        assert len(set(symbols)) == 4 and set(symbols) <= set(LATIN_SQUARE_SYMBOLS)
        assert item["input"]["symbols"] == "[" + ", ".join(symbols) + "]"
    for items in (sudoku, released_sudoku):
        assert {i["input"]["sudoku"].count("0") for i in items} == {4} and {i["metadata"]["length"] for i in items} == {12}


@pytest.mark.parametrize("level", ["easy", "medium", "hard"])
def test_words_to_sentence_items_look_like_the_released_ones(level):
    for n in (1, 3, 4, 5, 6, 7):
        released = released_items(f"words_to_sentence/{level}_n{n}")
        generated = generate_items(family(f"w2s_{level}"), n)
        assert {json.dumps(shape(item)) for item in generated} == {json.dumps(shape(item)) for item in released}
        for item in generated:
            words = item["answer"]["words"]
            assert len(set(words)) == n and set(words) <= set(w2s_words(level))
        # the prompt writes the words as the released ones do: "dog", "dog, park, and ball"
        assert all(i["input"]["words"] == word_list_text(i["answer"]["words"]) for i in released + generated)
    assert word_list_text(["dog", "park"]) == "dog and park"


def test_the_prompt_template_is_the_released_one_and_names_the_size():
    assert family("copy").config_key(12) == "waiting_line/copy"
    assert family("w2s_hard").config_key(1) == "words_to_sentence/hard_n1" and family("w2s_hard").config_key(9) == "words_to_sentence/hard"
    assert family("latin_square").config_key(7) == "puzzle/latin_square_n4"  # its template has {size}
    assert "{size}" in released_config("puzzle/latin_square_n4")["prompt"]


# ---------------------------------------------------------------- sizes, canvases, names
def test_canvases_are_the_released_ones_at_the_released_sizes():
    assert all(family(op).canvas(n) == 32 for op in WAITING_LINE_OPS for n in range(2, 7))
    assert all(family(op).canvas(15) == 128 for op in WAITING_LINE_OPS)
    assert family("latin_square").canvas(4) == family("sudoku").canvas(4) == 64
    assert all(family(f"w2s_{level}").canvas(n) == 64 for level in ("easy", "medium", "hard") for n in range(1, 8))
    largest = {name: (f.smallest, f.largest) for name, f in FAMILIES.items()}
    assert largest["copy"] == (2, 223) and largest["latin_square"] == (2, 16) and largest["sudoku"] == (1, 12)
    assert largest["w2s_easy"] == (1, 112)
    assert all(f.canvas(f.largest) <= 1024 < f.canvas(f.largest + 1) for f in FAMILIES.values() if f.kind != "sudoku")


def test_task_names_parse_and_bad_ones_say_what_is_allowed():
    parsed = parse_name("parallelbench_gen_waiting_line_n12_s3")
    assert parsed.group and [(f.name, n, s) for f, n, s in parsed.members][:2] == [("copy", 12, 3), ("sort", 12, 3)]
    assert [(f.name, n, s) for f, n, s in parse_name("parallelbench_gen_w2s_easy_n9").members] == [("w2s_easy", 9, 0)]
    assert parse_name("parallelbench_copy") is None and parse_name("parallelbench_n15_copy") is None
    with pytest.raises(ValueError, match="copy: people must be 2 to 223, got 1"):
        parse_name("parallelbench_gen_copy_n1")
    with pytest.raises(ValueError, match="sudoku takes `_b<blanks>`"):
        parse_name("parallelbench_gen_sudoku_n4")
    with pytest.raises(ValueError, match="sudoku: blanks must be 1 to 12, got 13"):
        parse_name("parallelbench_gen_sudoku_b13")
    with pytest.raises(ValueError, match="no generator for 'paraphrasing'; allowed: copy, sort"):
        parse_name("parallelbench_gen_paraphrasing_n3")


# ---------------------------------------------------------------- determinism and the released items
def test_the_same_seed_gives_the_same_items_and_a_larger_set_extends_a_smaller_one():
    copy = family("copy")
    first = generate_items(copy, 7, seed=3, count=30)
    assert first == generate_items(copy, 7, seed=3, count=30)
    assert generate_items(copy, 7, seed=3, count=10) == first[:10]
    assert generate_items(copy, 7, seed=4, count=30) != first
    assert generate_items(copy, 7, seed=3, count=30, split="train") != first
    # pinned, so that a change of the generator (which would change every published set) is seen
    assert generate_items(copy, 5, count=1)[0]["input"]["context"] == (
        '["Mary Ford", "Christian Bennett", "Donald Roberts", "Laura Hunter", "Donald Richardson"]')


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_no_generated_question_is_a_released_one_at_the_released_sizes(name):
    f = family(name)
    sizes = {"waiting_line": (3, 4, 5, 6, 15), "latin_square": (4,), "sudoku": (4,), "w2s": (1, 3, 4, 5, 6, 7)}[f.kind]
    for size in sizes:
        items = generate_items(f, size, count=100)
        assert overlaps_released(f, items) == 0
        keys = [question_key("x", item["input"]) for item in items]
        keys += [question_key("x", ex["input"]) for item in items for ex in item["input"].get("icl_examples", [])]
        assert len(keys) == len(set(keys))  # no question twice within a set, examples included


def test_released_questions_come_back_only_when_asked():
    # one-word easy items: the released single words leave too few others for 300 items
    easy = family("w2s_easy")
    with pytest.raises(ValueError, match="w2s_easy with 1 words: only .* distinct items found that no released item asks"):
        generate_items(easy, 1, count=300)
    allowed = generate_items(easy, 1, count=300, allow_released=True)
    assert overlaps_released(easy, allowed) > 0
    assert len(released_keys()) > 6000


# ---------------------------------------------------------------- the gold answers through the real scorers
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_gold_answers_score_one_at_every_supported_size(name):
    f = family(name)
    for size in range(f.smallest, f.largest + 1):
        for item in generate_items(f, size, count=2, allow_released=True):
            if f.kind == "w2s":  # no gold sentence: the words alone pass the inclusion check
                assert text.includes_all(f"We saw {' and '.join(item['answer']['words'])}.", item["answer"]["words"])
            else:
                assert gold_score(item, f.config_key(size)) == 1.0, (name, size)
                example = item["input"]["icl_examples"][0]
                assert gold_score(example, f.config_key(size)) == 1.0, (name, size, "example")
