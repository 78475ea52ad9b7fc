"""The appendix's variants: chain-of-thought Waiting Line and the refactor's Latin Square prompts."""

import functools
import json

import pytest

from parallelbench_lmeval.scoring import lists, puzzles
from parallelbench_lmeval.variants import COT_TRIGGER, LATIN_SQUARE_RULES, LATIN_SQUARE_VARIANTS, apply_variant
from tasks_helpers import WAITING_LINE, released_items, released_prompt

COT_TASKS = [f"parallelbench_cot_{op}" for op in WAITING_LINE]
LATIN_TASKS = [f"parallelbench_latin_square_{variant}" for variant in LATIN_SQUARE_VARIANTS]


@functools.cache
def tasks() -> dict:
    from lm_eval.tasks import TaskManager

    from parallelbench_lmeval.registration import ensure_registered

    ensure_registered()
    return TaskManager(include_defaults=False).load(["parallelbench_waiting_line_cot", "parallelbench_latin_square_variants"])["tasks"]


def shots(task, doc) -> list[dict]:
    """The user/assistant turns lm-eval sends before the question."""
    chat = task.fewshot_context(doc, task.config.num_fewshot, apply_chat_template=True, fewshot_as_multiturn=True,
                                chat_template=lambda messages, add_generation_prompt=True: json.dumps(messages))
    return json.loads(chat)


@pytest.mark.parametrize("op", WAITING_LINE)
def test_cot_prompts_ask_for_reasoning_and_show_the_example_reasoned(op):
    task = tasks()[f"parallelbench_cot_{op}"]
    assert task.config.generation_kwargs["max_gen_toks"] == 256 and task.config.num_fewshot == 1
    template = released_prompt(f"waiting_line/{op}")
    for doc, item in zip(task.test_docs(), released_items(f"waiting_line/{op}"), strict=True):
        messages = shots(task, doc)
        released_question = template.format(**item["input"])
        assert messages[2]["content"] == released_question.replace(" and provide only the final list", "").rstrip("\n") + "\n" + COT_TRIGGER
        example = item["input"]["icl_examples"][0]
        reasoning = messages[1]["content"]
        gold = example["answer"] if isinstance(example["answer"], str) else example["answer"]["example"]
        assert reasoning.startswith("Step 1: Identify the original list: ") and reasoning.endswith(f"The answer is: {gold}")
        assert lists.parse_list(reasoning) == lists.parse_list(gold)  # the score reads the final answer
        assert task.process_results(doc, [doc["answer"]])["score"] == 1.0


def test_cot_reasoning_names_what_the_example_did():
    item = released_items("waiting_line/remove_random")[0]
    _, (varied,) = apply_variant("cot", "waiting_line/remove_random", released_prompt("waiting_line/remove_random"), [item])
    reasoning = varied["input"]["icl_examples"][0]["answer"]
    example = item["input"]["icl_examples"][0]
    before, after = example["answer"]["input"], json.loads(example["answer"]["example"])
    gone = next(i for i in range(len(before)) if i == len(after) or before[i] != after[i])
    assert f'At a random position, {gone} (counting from 0), "{before[gone]}" leaves the line' in reasoning
    assert f"{len(before) - 1} people, one fewer than the original {len(before)}" in reasoning
    assert item == released_items("waiting_line/remove_random")[0]  # the released item is untouched


@pytest.mark.parametrize("name", LATIN_TASKS)
def test_latin_square_variants_show_the_refactors_shots_and_rules(name):
    variant = name.removeprefix("parallelbench_latin_square_")
    rules, examples = LATIN_SQUARE_VARIANTS[variant]
    task = tasks()[name]
    assert task.config.num_fewshot == len(examples) == (3 if "3shot" in variant else 1)
    for doc, item in zip(task.test_docs(), released_items("puzzle/latin_square_n4"), strict=True):
        messages = shots(task, doc)
        assert len(messages) == 2 * len(examples) + 1
        assert (LATIN_SQUARE_RULES in messages[-1]["content"]) == rules
        assert messages[-1]["content"].startswith(f"Generate a Latin square of size 4 with the symbols {item['input']['symbols']}.")
        for (symbols, square), answer in zip(examples, messages[1::2]):
            assert answer["content"] == square and puzzles.latin_square_score(square, symbols.split()) == 1.0
        assert task.process_results(doc, [doc["answer"]])["score"] == 1.0
    with pytest.raises(ValueError, match=f"num_fewshot must be 0 to {len(examples)}, got {len(examples) + 1}"):
        task.fewshot_context(task.test_docs()[0], len(examples) + 1)


def test_cyclic_and_diverse_shots_differ_only_in_the_squares():
    cyclic, diverse = LATIN_SQUARE_VARIANTS["3shot_cyclic"][1], LATIN_SQUARE_VARIANTS["3shot_diverse"][1]
    assert [s for s, _ in cyclic] == [s for s, _ in diverse] and cyclic[0] == diverse[0] and cyclic[1:] != diverse[1:]


@pytest.mark.parametrize("variant, released_task, message", [
    ("cot", "puzzle/latin_square_n4", "the cot variant applies to Waiting Line tasks, not puzzle/latin_square_n4"),
    ("rules", "waiting_line/copy", "the rules variant applies to puzzle/latin_square_n4, not waiting_line/copy"),
    ("5shot", "puzzle/latin_square_n4", "unknown task variant '5shot'; allowed: cot, 3shot_cyclic"),
])
def test_a_variant_is_refused_where_it_does_not_apply(variant, released_task, message):
    with pytest.raises(ValueError, match=message):
        apply_variant(variant, released_task, "{context}", [])
