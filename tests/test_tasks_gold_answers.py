"""Each item's stored answer scores 1.0 through lm-eval's own process_results and aggregation."""

import json

import pytest

from tasks_helpers import ALL_TASKS, loaded_tasks, released_items

SCORED_BY_ACCURACY = sorted(name for name, spec in ALL_TASKS.items() if spec[2] == 1)


@pytest.fixture(scope="module")
def tasks():
    return loaded_tasks()


@pytest.mark.parametrize("name", SCORED_BY_ACCURACY)
def test_stored_answers_score_one(tasks, name):
    task = tasks[name]
    per_item = [task.process_results(doc, [doc["answer"]]) for doc in task.test_docs()]
    aggregation = task.aggregation()
    for metric in per_item[0]:
        assert aggregation[metric]([scores[metric] for scores in per_item]) == 1.0, metric
    assert set(per_item[0]) >= {"score", "pb_acc"}


@pytest.mark.parametrize("name", SCORED_BY_ACCURACY)
def test_the_shown_target_is_the_stored_answer(tasks, name):
    for doc in tasks[name].test_docs():
        answer = json.loads(doc["item"])["answer"]
        assert doc["answer"] == (answer if isinstance(answer, str) else answer["example"])


def test_sort_gold_is_sorted_by_first_name_despite_the_prompt():
    by_last_name_differs = 0
    for item in released_items("waiting_line/sort"):
        people, gold = json.loads(item["input"]["context"]), json.loads(item["answer"])
        assert gold == sorted(people)  # whole "First Last" strings
        by_last_name_differs += gold != sorted(people, key=lambda name: name.split()[-1])
    assert by_last_name_differs > 50
