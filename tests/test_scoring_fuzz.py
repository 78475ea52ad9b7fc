"""Arbitrary text through every task's process_results: never raises, every score in [0, 1]."""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks_helpers import CORE_TASKS, loaded_tasks

# Fragments that reach deep into the parsers: brackets, quotes, names, digit rows, CSV cells.
FRAGMENTS = ["[", "]", '"', "'", ",", ", ", " ", "\n", "\\n", "Billy Ramos", "Alan Wells", "Grace Wright",
             "1342", "2431", "0042", "H", "4", "C", "A", "dog", "park", "The", ".", ""]
OUTPUTS = st.one_of(st.text(max_size=200), st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))


@pytest.fixture(scope="module")
def tasks():
    return loaded_tasks()


@pytest.mark.parametrize("name", sorted(CORE_TASKS))
def test_any_output_scores_within_bounds(tasks, name):
    task = tasks[name]
    docs = [task.test_docs()[i] for i in (0, 1)]
    max_examples = 15 if name == "parallelbench_paraphrasing" else 40

    @settings(max_examples=max_examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(output=OUTPUTS, which=st.integers(0, 1))
    def check(output, which):
        scores = task.process_results(docs[which], [output])
        assert set(scores) <= set(task.aggregation())
        for metric, value in scores.items():
            assert isinstance(value, float) and not math.isnan(value) and 0.0 <= value <= 1.0, (metric, value)

    check()
