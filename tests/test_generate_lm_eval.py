"""Generated tasks in lm-eval (by name, as a folder), `parallelbench generate`, and the training split."""

import functools
import hashlib
import json
import re

import pytest

from parallelbench_lmeval.generate import cli
from parallelbench_lmeval.generate.families import family
from parallelbench_lmeval.generate.items import generate_items, question_key, released_keys
from parallelbench_lmeval.generate.training import reward, write_training_set


@functools.cache
def manager(include_path=None, **metadata):
    """A TaskManager of our tasks only (indexing lm-eval's own takes minutes on a loaded machine)."""
    from lm_eval.tasks import TaskManager

    from parallelbench_lmeval.registration import ensure_registered

    ensure_registered()
    return TaskManager(include_defaults=False, include_path=include_path, metadata=dict(metadata) or None)


def gold_scores(task) -> list[float]:
    return [task.process_results(doc, [doc["answer"]])["score"] for doc in task.test_docs()]


def test_generated_names_load_with_their_size_canvas_and_the_released_scoring():
    tasks = manager().load(["parallelbench_gen_copy_n12", "parallelbench_gen_latin_square_n6_s2", "parallelbench_gen_sudoku_b10"])["tasks"]
    copy, latin, sudoku = (tasks[name] for name in ("parallelbench_gen_copy_n12", "parallelbench_gen_latin_square_n6_s2", "parallelbench_gen_sudoku_b10"))
    assert copy.config.generation_kwargs["max_gen_toks"] == 64 and latin.config.generation_kwargs["max_gen_toks"] == 256
    assert copy.config.dataset_kwargs == {"generated": {"family": "copy", "n": 12, "seed": 0}}
    assert copy.config.num_fewshot == 1 and set(copy.aggregation()) >= {"score", "score_strict", "pb_acc", "tokens_per_step"}
    assert [len(t.test_docs()) for t in (copy, latin, sudoku)] == [100, 100, 100]
    # the items are the generator's, rendered by the released templates, and their gold answers score 1
    first = json.loads(copy.test_docs()[0]["item"])
    assert first == generate_items(family("copy"), 12, count=1)[0]
    assert copy.test_docs()[0]["question"].endswith("Please copy the list exactly and provide only the final list.\n")
    assert "Latin square of size 6" in latin.test_docs()[0]["question"]
    assert all(score == 1.0 for task in (copy, latin, sudoku) for score in gold_scores(task))


def test_groups_and_metadata():
    loaded = manager(num_items=7, allow_released="true").load(["parallelbench_gen_waiting_line_n9_s1", "parallelbench_gen_w2s_n2"])
    assert loaded["groups"]["parallelbench_gen_waiting_line_n9_s1"].child_names == [
        f"parallelbench_gen_{op}_n9_s1" for op in cli.TASK_GROUPS["waiting_line"]]
    assert set(loaded["groups"]["parallelbench_gen_w2s_n2"].child_names) == {f"parallelbench_gen_w2s_{lv}_n2" for lv in ("easy", "medium", "hard")}
    assert {len(task.test_docs()) for task in loaded["tasks"].values()} == {7}
    w2s = loaded["tasks"]["parallelbench_gen_w2s_hard_n2"]
    assert w2s.config.num_fewshot == 0 and w2s.config.dataset_kwargs["scored_with"]["grammar"] == "harper"
    assert w2s.test_docs()[0]["question"].startswith("Construct a single, coherent sentence using the words ")


def test_match_tasks_accepts_generated_names_and_refuses_impossible_ones():
    assert manager().match_tasks(["parallelbench_gen_copy_n40", "parallelbench_copy", "no_such_task"]) == [
        "parallelbench_copy", "parallelbench_gen_copy_n40"]
    with pytest.raises(ValueError, match="latin_square: side must be 2 to 16, got 17"):
        manager().match_tasks(["parallelbench_gen_latin_square_n17"])


@pytest.mark.parametrize("metadata, message", [
    ({"num_items": 0}, "num_items must be a positive integer, got 0"),
    ({"allow_released": "maybe"}, "allow_released must be true or false, got 'maybe'"),
])
def test_bad_metadata_is_refused_while_the_task_is_built(metadata, message):
    with pytest.raises(ValueError, match=message):
        manager(**metadata).load(["parallelbench_gen_copy_n5"])


def test_a_size_given_as_metadata_points_to_the_generated_name():
    with pytest.raises(ValueError, match="--metadata n=12: .* --tasks parallelbench_gen_copy_n12"):
        manager(n=12).load(["parallelbench_copy"])


def test_the_ideal_model_runs_generated_tasks_through_lm_eval():
    import lm_eval

    results = lm_eval.simple_evaluate(
        model="dllm", model_args="pretrained=ideal,k=2", tasks=["parallelbench_gen_reverse_n11", "parallelbench_gen_shuffle_n11"],
        task_manager=manager(num_items=40), device="cpu", batch_size=64,
    )["results"]
    assert results["parallelbench_gen_reverse_n11"]["score,none"] == 1.0
    assert results["parallelbench_gen_reverse_n11"]["tokens_per_step,none"] == pytest.approx(11 / 6)  # 11 items in 6 steps
    assert 0 < results["parallelbench_gen_shuffle_n11"]["score,none"] < 0.7


# ---------------------------------------------------------------- parallelbench generate
def test_a_task_folder_freezes_what_the_name_generates(tmp_path, capsys):
    assert cli.main(["--tasks", "replace_random,sudoku,w2s_medium", "--n", "8", "--blanks", "6", "--seed", "5",
                     "--num-items", "12", "--out", str(tmp_path)]) == 0
    names = ["parallelbench_gen_replace_random_n8_s5", "parallelbench_gen_sudoku_b6_s5", "parallelbench_gen_w2s_medium_n8_s5"]
    assert f"--include_path {tmp_path} --tasks {','.join(names)}" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["tasks"]["parallelbench_gen_sudoku_b6_s5"] == {
        "family": "sudoku", "n": 6, "size_of": "blanks", "seed": 5, "items": 12, "max_gen_toks": 64, "released_questions_repeated": 0}
    assert (tmp_path / f"{names[0]}.yaml").read_text().count("!function utils.") == 3
    folder = manager(include_path=str(tmp_path)).load(names)["tasks"]
    by_name = manager(num_items=12).load(names)["tasks"]
    for name in names:
        assert folder[name].config.dataset_kwargs["items_file"] == f"{name}.jsonl"
        assert [d["item"] for d in folder[name].test_docs()] == [d["item"] for d in by_name[name].test_docs()]
    assert all(score == 1.0 for score in gold_scores(folder[names[0]]) + gold_scores(folder[names[1]]))


@pytest.mark.parametrize("arguments, message", [
    (["--n", "1"], "copy: people must be 2 to 223, got 1"),
    (["--tasks", "puzzle", "--blanks", "13"], "sudoku: blanks must be 1 to 12, got 13"),
    (["--tasks", "copy,paraphrasing"], "no generator for 'paraphrasing'; allowed: copy, .*; groups: waiting_line, w2s, puzzle"),
    (["--n", "3-x"], "sizes are numbers, lists .* got '3-x'"),
    (["--n", "6-3"], "the range .6-3. is empty: write it low-high"),
    (["--n", "5", "--seed", "-1"], "the seed is a whole number >= 0 .* got '-1'"),
    (["--split", "train", "--tasks", "w2s"], "Words-to-Sentence has no reference sentence"),
    (["--tasks", "copy", "--n", "3", "--num-items", "0"], "the number of items must be at least 1, got 0"),
])
def test_generate_refuses_bad_requests_by_name(tmp_path, capsys, arguments, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*arguments, "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert re.search(f"error: .*{message}", capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- the training split
def test_training_records_are_chat_prompts_with_gold_completions_off_every_released_question(tmp_path):
    members = [(family("shuffle"), 3), (family("copy"), 5), (family("latin_square"), 4), (family("sudoku"), 4)]
    manifest = write_training_set(tmp_path, members, size=90, seed=2)
    text = (tmp_path / "train.jsonl").read_text()
    records = [json.loads(line) for line in text.splitlines()]
    assert manifest["sha256"] == hashlib.sha256(text.encode()).hexdigest() and manifest["records"] == len(records) == 90
    assert manifest["mix"] == {"shuffle": {3: 23}, "copy": {5: 23}, "latin_square": {4: 22}, "sudoku": {4: 22}}
    assert manifest["seed"] == 2 and manifest["released_check"]["repeated"] == 0
    asked = {question_key(r["task"], r["item"]["input"]) for r in records}  # a family's name is its key's kind
    asked |= {question_key(r["task"], r["item"]["input"]["icl_examples"][0]["input"]) for r in records}
    assert not asked & released_keys() and len(asked) == 180
    for r in records:
        assert [m["role"] for m in r["prompt"]] == ["user", "assistant", "user"]
        assert reward(r["completion"][0]["content"], r) == 1.0
        assert reward("I am not sure.", r) == 0.0
    test_items = [json.dumps(i) for i in generate_items(family("copy"), 5, seed=2)]
    assert not {json.dumps(r["item"]) for r in records} & set(test_items)  # the train stream is not the test one
    write_training_set(tmp_path / "again", members, size=90, seed=2, shots=0)
    again = [json.loads(line) for line in (tmp_path / "again" / "train.jsonl").read_text().splitlines()]
    assert [r["item"] for r in again] == [r["item"] for r in records] and all(len(r["prompt"]) == 1 for r in again)
