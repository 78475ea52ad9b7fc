"""What the model receives: the released templates, filled per item, with the item's own one-shot example."""

import json

import pytest

from tasks_helpers import ALL_TASKS, ONE_SHOT_TASKS, loaded_tasks, released_items, released_prompt


def chat_template(messages, add_generation_prompt=True):
    """Stand-in for a model's chat template (lm-eval passes the message list and this flag)."""
    return json.dumps({"messages": messages, "add_generation_prompt": add_generation_prompt})


def fill(template: str, fields: dict) -> str:
    """SPEC §2: str.format with the item's input; Sudoku's literal backslash-n become newlines."""
    text = template.format(**fields)
    return text.replace("\\n", "\n") if "sudoku" in fields else text


def example_answer(answer) -> str:
    return answer if isinstance(answer, str) else answer["example"]


def expected_messages(released_task: str, item: dict) -> list[dict]:
    template = released_prompt(released_task)
    messages = []
    if item["input"].get("icl_examples"):
        example = item["input"]["icl_examples"][0]
        messages += [
            {"role": "user", "content": fill(template, example["input"])},
            {"role": "assistant", "content": example_answer(example["answer"])},
        ]
    return messages + [{"role": "user", "content": fill(template, item["input"])}]


@pytest.fixture(scope="module")
def tasks():
    return loaded_tasks()


def chat_context(task, doc) -> dict:
    rendered = task.fewshot_context(
        doc, task.config.num_fewshot, apply_chat_template=True, fewshot_as_multiturn=True, chat_template=chat_template
    )
    return json.loads(rendered)


@pytest.mark.parametrize("name", sorted(ALL_TASKS))
def test_first_item_chat_messages(tasks, name):
    released_task = ALL_TASKS[name][0]
    task = tasks[name]
    task.build_all_requests(limit=1, apply_chat_template=True, fewshot_as_multiturn=True, chat_template=chat_template)
    sent = json.loads(task.instances[0].args[0])
    assert sent == {"messages": expected_messages(released_task, released_items(released_task)[0]), "add_generation_prompt": True}


@pytest.mark.parametrize("name", sorted(ALL_TASKS))
def test_first_item_plain_text(tasks, name):
    messages = expected_messages(ALL_TASKS[name][0], released_items(ALL_TASKS[name][0])[0])
    task = tasks[name]
    plain = task.fewshot_context(task.test_docs()[0], task.config.num_fewshot)
    if len(messages) == 3:
        assert plain == messages[0]["content"] + "\n" + messages[1]["content"] + "\n\n" + messages[2]["content"]
    else:
        assert plain == messages[0]["content"]


@pytest.mark.parametrize("name", ONE_SHOT_TASKS)
def test_every_item_gets_its_own_example(tasks, name):
    released_task = ALL_TASKS[name][0]
    task = tasks[name]
    for doc, item in zip(task.test_docs(), released_items(released_task), strict=True):
        assert chat_context(task, doc)["messages"] == expected_messages(released_task, item)


def test_literal_prompts_of_the_spec(tasks):
    copy = tasks["parallelbench_copy"].test_docs()[0]["question"]
    assert copy == (
        "You are managing a waiting line at a customer service desk.\n"
        "You need to record the following people in the order they arrived:\n"
        '["Billy Ramos", "Alan Wells", "Grace Wright"]\n'
        "Please copy the list exactly and provide only the final list.\n"
    )
    replace_random = tasks["parallelbench_replace_random"].test_docs()[0]["question"]
    assert replace_random.endswith('Please replace one random person with "Juan Torres" and provide only the final list.')
    sudoku = tasks["parallelbench_sudoku"].test_docs()[0]["question"]
    assert "\\n" not in sudoku
    assert sudoku.endswith("all of the digits from 1 to 4.\n\nInput:\n0042\n2031\n4023\n3214\nOutput:\n")
    w2s = tasks["parallelbench_w2s_easy_n1"].test_docs()[0]["question"]
    assert w2s == "Construct a single, coherent sentence using the word dog."


def test_one_shot_count_other_than_one_is_refused(tasks):
    task = tasks["parallelbench_copy"]
    with pytest.raises(ValueError, match="num_fewshot must be 0 to 1, got 2"):
        task.fewshot_context(task.test_docs()[0], 2)
    assert task.fewshot_context(task.test_docs()[0], 0) == task.test_docs()[0]["question"]
