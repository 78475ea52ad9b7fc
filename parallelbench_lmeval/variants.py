"""Prompt variants of released tasks: the paper's chain-of-thought one-shot Waiting Line (Appendix
F.2) and the benchmark refactor's Latin Square variants. The items and their scoring are the
released ones; a variant changes the prompt template and the examples shown before the question.

- `cot` (Waiting Line): the released prompt without "and provide only the final list", followed
  by the paper's trigger line (`COT_TRIGGER`); the item's own example is answered step by step,
  ending in "The answer is: [...]". The paper's examples were written by GPT-4.1 mini and are not
  released; ours are written from the example's data by `cot_answer`, in the same shape as the
  paper's Table 4 (identify the list, do the operation, check, answer). The score reads the list
  after the last `[`, so it scores the final answer.
- `3shot_cyclic`, `3shot_diverse`, `rules`, `rules_3shot_cyclic` (Latin Square): the refactored
  benchmark's `latin_square_n4_3shot_cyclic`, `..._3shot_diverse`, `..._rules_1shot` and
  `..._rules_3shot_cyclic` (furiosa-ai/ParallelBench, `parallelbench/datasets/data/task_configs/
  test/puzzles.yaml`): its fixed examples, shared by every item (`LATIN_SQUARE_EXAMPLES`, data of
  the refactor, credited there), and for `rules*` its prompt stating what a Latin square is
  (`LATIN_SQUARE_RULES`). Like the refactor, `rules` shows its one fixed example instead of the
  item's own.
"""

from __future__ import annotations

import copy
import json

from parallelbench_lmeval.scoring.lists import render_list

COT_TRIGGER = "Think step by step and give your final answer at the end as 'The answer is: {answer}'."
ONLY_THE_FINAL_LIST = " and provide only the final list"
LATIN_SQUARE_RULES = "A Latin square is a grid where each row and each column contains every symbol exactly once."
LATIN_SQUARE_INSTRUCTION = " Only output the final result as CSV."
# The refactor's fixed examples: (symbols, square); the first is shared by every variant.
_FIRST_EXAMPLE = ("H T 6 P", "6,P,H,T\nP,H,T,6\nH,T,6,P\nT,6,P,H")
LATIN_SQUARE_EXAMPLES = {
    "cyclic": [_FIRST_EXAMPLE, ("W 3 K R", "K,R,W,3\nR,W,3,K\nW,3,K,R\n3,K,R,W"), ("5 M D J", "D,J,5,M\nJ,5,M,D\n5,M,D,J\nM,D,J,5")],
    "diverse": [_FIRST_EXAMPLE, ("W 3 K R", "W,3,K,R\n3,W,R,K\nK,R,W,3\nR,K,3,W"), ("5 M D J", "5,M,D,J\nD,J,5,M\nJ,5,M,D\nM,D,J,5")],
}
# variant -> (rules stated, the refactor's examples shown)
LATIN_SQUARE_VARIANTS = {
    "3shot_cyclic": (False, LATIN_SQUARE_EXAMPLES["cyclic"]),
    "3shot_diverse": (False, LATIN_SQUARE_EXAMPLES["diverse"]),
    "rules": (True, LATIN_SQUARE_EXAMPLES["cyclic"][:1]),
    "rules_3shot_cyclic": (True, LATIN_SQUARE_EXAMPLES["cyclic"]),
}
VARIANTS = ("cot", *LATIN_SQUARE_VARIANTS)


def _position(before: list[str], after: list[str]) -> int:
    """The first position where two lists differ (the length of the shorter when one extends the other)."""
    return next((i for i, (a, b) in enumerate(zip(before, after)) if a != b), min(len(before), len(after)))


def cot_answer(op: str, fields: dict, answer_list: list[str]) -> str:
    """A step-by-step answer to a Waiting Line question, ending in 'The answer is: [...]'."""
    line = json.loads(fields["context"])
    answer = render_list(answer_list)
    n, word, kind = len(line), fields.get("word"), op.split("_")[0]
    at = fields.get("index", _position(line, answer_list))  # the *Random tasks: where the example acted
    where = f"{'a random position' if op.endswith('_random') else 'the given position'}, {at} (counting from 0)"
    if kind in ("copy", "sort", "reverse"):
        how = {
            "copy": "Copy every person in the order they arrived",
            "sort": "Sort the names alphabetically as written, first name first",
            "reverse": "Read the line from the last person to the first",
        }[kind]
        step, check = f"{how}: {answer}", f"the same {n} people as the original."
    elif kind == "shuffle":
        moved = _position(line, answer_list)
        step = f"Put the people in a new random order: {answer}"
        check = f'the same {n} people in a different order (position {moved} held "{line[moved]}", now "{answer_list[moved]}").'
    elif kind == "replace":
        step = f'At {where}, "{line[at]}" is replaced with "{word}": {answer}'
        check = f"still {n} people, and only position {at} changed."
    elif kind == "insert":
        step = f'At {where}, "{word}" is inserted: {answer}'
        check = f"{n + 1} people, one more than the original {n}."
    else:
        step = f'At {where}, "{line[at]}" leaves the line: {answer}'
        check = f"{n - 1} people, one fewer than the original {n}."
    steps = [f"Step 1: Identify the original list: {fields['context']}", f"Step 2: {step}", f"Step 3: Check the answer: {check}"]
    return "\n".join([*steps, f"The answer is: {answer}"])


def _cot(released_task: str, template: str, items: list[dict]) -> tuple[str, list[dict]]:
    op = released_task.split("/")[-1]
    if ONLY_THE_FINAL_LIST not in template:
        raise ValueError(f"the cot variant needs a Waiting Line prompt; {released_task}'s has no {ONLY_THE_FINAL_LIST.strip()!r}")
    # the trigger's {answer} is text, not a field of str.format
    cot_template = template.replace(ONLY_THE_FINAL_LIST, "").rstrip("\n") + "\n" + COT_TRIGGER.replace("{answer}", "{{answer}}")
    varied = copy.deepcopy(items)
    for item in varied:
        for example in item["input"]["icl_examples"]:
            answer = example["answer"] if isinstance(example["answer"], str) else example["answer"]["example"]
            example["answer"] = cot_answer(op, example["input"], json.loads(answer))
    return cot_template, varied


def _latin_square(variant: str, template: str, items: list[dict]) -> tuple[str, list[dict]]:
    rules, shown = LATIN_SQUARE_VARIANTS[variant]
    if rules:
        if LATIN_SQUARE_INSTRUCTION not in template:
            raise ValueError(f"the {variant} variant needs the Latin Square prompt, which ends with {LATIN_SQUARE_INSTRUCTION.strip()!r}")
        template = template.replace(LATIN_SQUARE_INSTRUCTION, f" {LATIN_SQUARE_RULES}{LATIN_SQUARE_INSTRUCTION}")
    examples = [
        {"input": {"size": 4, "symbols": "[" + ", ".join(symbols.split()) + "]"}, "answer": {"symbols": symbols.split(), "example": square}}
        for symbols, square in shown
    ]
    varied = copy.deepcopy(items)
    for item in varied:
        item["input"]["icl_examples"] = copy.deepcopy(examples)
    return template, varied


def apply_variant(variant: str, released_task: str, template: str, items: list[dict]) -> tuple[str, list[dict]]:
    """The variant's prompt template and items (copies; the released items are not changed)."""
    if variant == "cot":
        if not released_task.startswith(("waiting_line/", "waiting_line_n15/")):
            raise ValueError(f"the cot variant applies to Waiting Line tasks, not {released_task}")
        return _cot(released_task, template, items)
    if variant in LATIN_SQUARE_VARIANTS:
        if released_task != "puzzle/latin_square_n4":
            raise ValueError(f"the {variant} variant applies to puzzle/latin_square_n4, not {released_task}")
        return _latin_square(variant, template, items)
    raise ValueError(f"unknown task variant {variant!r}; allowed: {', '.join(VARIANTS)}")
