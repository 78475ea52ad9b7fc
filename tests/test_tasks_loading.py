"""Every task and group loads through lm-eval's own TaskManager, with no include_path."""

import pytest

from tasks_helpers import (
    ALL_TASKS,
    CORE_TASKS,
    DECODE_STATS,
    GROUPS,
    TEXT_WRITING,
    W2S_LENGTHS,
    load_tasks,
    loaded_tasks,
    minilm_path,
    task_manager,
)

TEXT_WRITING_METRICS = {
    "parallelbench_summarization": {"grammar", "rougeL", "rouge1", "rouge2", "score"},
    "parallelbench_paraphrasing": {"grammar", "bertscore", "inv_bleu", "score"},
}
TEXT_WRITING_TASKS = {f"parallelbench_{name}" for name in TEXT_WRITING + W2S_LENGTHS}


def expected_metrics(name: str) -> set[str]:
    if name in TEXT_WRITING_METRICS:
        task_metrics = TEXT_WRITING_METRICS[name]
    elif "w2s" in name:
        task_metrics = {"grammar", "inclusion", "score"}
    elif name in ("parallelbench_latin_square", "parallelbench_sudoku"):
        task_metrics = {"score"}
    else:
        task_metrics = {"score", "score_strict"}
    return task_metrics | {"pb_acc"} | DECODE_STATS


@pytest.fixture(scope="module")
def tasks():
    return loaded_tasks()


def test_index_lists_every_task_and_group_without_include_path():
    names = set(task_manager().all_tasks)
    missing = (set(ALL_TASKS) | set(GROUPS)) - names
    assert not missing


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_groups_hold_exactly_their_tasks(group):
    loaded = load_tasks((group,))
    assert loaded["groups"][group].child_names == list(GROUPS[group])
    assert set(loaded["tasks"]) == set(GROUPS[group])


def test_parallelbench_group_averages_pb_acc_unweighted():
    assert len(GROUPS["parallelbench"]) == 17
    aggregates = {agg.metric: agg for agg in load_tasks(("parallelbench",))["groups"]["parallelbench"].aggregate_metric_list}
    assert aggregates["pb_acc"].aggregation == "mean" and aggregates["pb_acc"].weight_by_size is False
    assert aggregates["tokens_per_step"].weight_by_size is False


@pytest.mark.parametrize("name", sorted(ALL_TASKS))
def test_task_config_matches_spec(tasks, name):
    _, items, shots, max_gen_toks = ALL_TASKS[name]
    task = tasks[name]
    assert len(task.test_docs()) == items
    assert task.config.num_fewshot == shots
    assert task.config.generation_kwargs == {"until": [], "do_sample": False, "temperature": 0.0, "max_gen_toks": max_gen_toks}
    assert set(task.aggregation()) == expected_metrics(name)
    assert all(agg.__name__ == "mean" for agg in task.aggregation().values())
    assert task.higher_is_better()["pb_acc"] is True and task.higher_is_better()["nfe"] is False
    assert task.higher_is_better()["dec_order_kendall"] is None  # an order is neither better nor worse


def test_core_tasks_use_the_spec_data_files(tasks):
    for name, (released_task, *_) in CORE_TASKS.items():
        assert tasks[name].config.dataset_kwargs["released_task"] == released_task


def test_text_writing_tasks_record_their_scorers_and_no_other_task_does(tasks):
    offline_grammar = {"grammar": "harper", "comparable_with_paper": False}
    for name in ALL_TASKS:
        kwargs = tasks[name].config.dataset_kwargs
        if name == "parallelbench_paraphrasing":
            assert kwargs["scored_with"] == offline_grammar | {"bertscore_model": minilm_path(), "bertscore_num_layers": 6}
        elif name in TEXT_WRITING_TASKS:
            assert kwargs["scored_with"] == offline_grammar
        else:
            assert set(kwargs) == {"released_task"}


def test_bad_scorers_value_fails_while_building_the_task():
    from lm_eval.tasks import TaskManager

    with pytest.raises(ValueError, match="unknown scorers 'cloud'.*allowed: paper, offline"):
        TaskManager(metadata={"scorers": "cloud"}).load(["parallelbench_w2s_easy"])


def test_bad_grammar_backend_fails_while_building_the_task():
    from lm_eval.tasks import TaskManager

    with pytest.raises(ValueError, match="unknown grammar backend 'spellcheck'.*allowed: languagetool, harper"):
        TaskManager(metadata={"grammar": "spellcheck"}).load(["parallelbench_w2s_easy"])


def test_unreachable_languagetool_fails_while_building_the_task_with_a_fix():
    from lm_eval.tasks import TaskManager

    from parallelbench_lmeval.scoring.grammar import GrammarBackendError

    # A closed local port: the LanguageTool client cannot start, whatever is installed here.
    metadata = {"grammar": "languagetool", "languagetool_url": "http://127.0.0.1:9"}
    with pytest.raises(GrammarBackendError, match="PARALLELBENCH_GRAMMAR=harper"):
        TaskManager(metadata=metadata).load(["parallelbench_summarization"])
