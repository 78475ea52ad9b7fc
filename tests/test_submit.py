"""`parallelbench submit`: the public leaderboard's files for one model, refused when incomplete."""

import json

import pytest
from report_helpers import write_run

from parallelbench_lmeval.report import submit
from parallelbench_lmeval.report import sweep as sweeps
from parallelbench_lmeval.report.runs import LEADERBOARD_TASK_IDS, load_configurations

TASKS = list(LEADERBOARD_TASK_IDS)
TEXT_WRITING = [task for task, name in LEADERBOARD_TASK_IDS.items() if name.startswith("textwriting-")]
PAPER = {"grammar": "languagetool", "bertscore_model": "roberta-large", "comparable_with_paper": True}
HARPER = {"grammar": "harper", "bertscore_model": "/minilm", "comparable_with_paper": False}


def complete_sweep(root, strategy_configs=("threshold=0.5", "threshold=0.7", "threshold=0.9"), scorer=PAPER, limit=None):
    for i, gen_kwargs in enumerate(strategy_configs):
        accuracy = 0.9 - 0.1 * i
        write_run(root, "org/model", "dllm", "pretrained=org/model", gen_kwargs,
                  {task: (accuracy, 2.0 + i, 32) for task in TASKS}, f"2025-01-01T00-00-0{i}",
                  limit=limit, scored_with={task: scorer for task in TEXT_WRITING})


def test_a_complete_sweep_is_written_in_the_public_format(tmp_path):
    complete_sweep(tmp_path / "runs")
    out = tmp_path / "submission"
    assert submit.main([str(tmp_path / "runs"), "--out", str(out), "--name", "mymodel", "--url", "https://x"]) == 0
    leaderboard = (out / "leaderboard" / "mymodel.json").read_bytes()
    assert not leaderboard.endswith(b"\n")  # as the published files
    published = json.loads(leaderboard)
    assert published["thresholds"] == [80, 75, 70] and list(published["results"]) == ["confidence-threshold"]
    # the public rule for adaptive strategies, on (2, 90%), (3, 80%), (4, 70%): 75% is met half way to 4
    assert published["results"]["confidence-threshold"] == pytest.approx({"80": 3.0, "75": 3.5, "70": 4.0})
    figure = (out / "figures" / "mymodel" / "confidence-threshold.csv").read_bytes()
    lines = figure.split(b"\r\n")
    assert lines[0] == b"task,tps,accuracy" and lines[-1] == b""  # CRLF line ends, as csv.writer writes them
    rows = [line.split(b",") for line in lines[1:-1]]
    assert len(rows) == 17 * 3 + 3
    assert [r[0] for r in rows[:3]] == [b"puzzles-latin_square"] * 3  # sorted by task id, then tps
    assert rows[-1][:2] == [b"avg", b"4.0"] and float(rows[-1][2]) == pytest.approx(70.0)
    entry = json.loads((out / "metadata_entry.json").read_text())
    assert entry == {"id": "mymodel", "family": "llada", "displayName": "org/model", "url": "https://x",
                     "strategies": ["confidence-threshold"]}
    record = json.loads((out / "submission.json").read_text())
    assert record["complete"] is True and record["problems"] == []
    assert record["versions"]["parallelbench_lmeval_version"] == ["0.2.0"]
    assert record["versions"]["model_revision"] == ["abc123"]
    assert record["scorers"]["parallelbench_summarization"] == PAPER
    assert [c["config"] for c in record["strategies"]["confidence-threshold"]] == [
        "threshold=0.5", "threshold=0.7", "threshold=0.9"]


@pytest.mark.parametrize("case, reason", [
    ("harper", "was scored with harper grammar and /minilm BERTScore, not the paper's LanguageTool"),
    ("limited", "run with --limit 50, not on every item"),
    ("two_points", "strategy confidence-threshold has 2 configuration(s); PBx needs at least 3"),
    ("no_scorer_record", "does not record its scorers"),
])
def test_an_incomplete_submission_is_refused_with_its_reason(tmp_path, case, reason):
    runs = tmp_path / "runs"
    if case == "harper":
        complete_sweep(runs, scorer=HARPER)
    elif case == "limited":
        complete_sweep(runs, limit=50)
    elif case == "two_points":
        complete_sweep(runs, strategy_configs=("threshold=0.5", "threshold=0.9"))
    else:
        complete_sweep(runs, scorer=None)
    with pytest.raises(ValueError, match="submission refused") as error:
        submit.main([str(runs), "--out", str(tmp_path / "out")])
    assert reason in str(error.value)
    assert not (tmp_path / "out" / "leaderboard").exists()


def test_the_ideal_models_sweep_lacks_text_writing_and_is_refused_unless_allowed(tmp_path):
    runs = tmp_path / "ideal"
    sweeps.main(["--model", "dllm", "--model_args", "pretrained=ideal", "--tasks", "parallelbench_waiting_line",
                 "--grid", "threshold", "--thresholds", "0.55,0.75,0.95", "--output_path", str(runs)])
    with pytest.raises(ValueError) as error:
        submit.main([str(runs), "--out", str(tmp_path / "refused")])
    message = str(error.value)
    # one line for the reason, naming the three configurations it concerns, and the way out
    assert message.count("lacks 7 of the 17 tasks") == 1
    assert "lacks 7 of the 17 tasks" in message and ": 3 configurations (confidence-threshold threshold=0.55, " in message
    assert "--allow_incomplete" in message and "nothing written" in message
    assert not (tmp_path / "refused").exists()
    for task in (*TEXT_WRITING, "parallelbench_latin_square", "parallelbench_sudoku"):
        assert task in message
    out = tmp_path / "preview"
    assert submit.main([str(runs), "--out", str(out), "--allow_incomplete"]) == 0
    record = json.loads((out / "submission.json").read_text())
    assert record["complete"] is False and any("lacks 7 of the 17 tasks" in p for p in record["problems"])
    published = json.loads((out / "leaderboard" / "ideal.json").read_text())
    assert list(published) == ["thresholds", "results"] and list(published["results"]) == ["confidence-threshold"]
    rows = (out / "figures" / "ideal" / "confidence-threshold.csv").read_bytes().decode().split("\r\n")
    assert rows[0] == "task,tps,accuracy" and len(rows) == 1 + 10 * 3 + 3 + 1
    assert all(row.split(",")[0].startswith(("waitingline-", "avg")) for row in rows[1:-1])


def test_the_model_must_be_named_when_the_results_hold_several(tmp_path):
    complete_sweep(tmp_path / "runs")
    write_run(tmp_path / "runs", "other", "dllm", "pretrained=other", "k=2", {TASKS[0]: (0.5, 2.0, 32)}, "2025-02-02")
    with pytest.raises(ValueError, match="several models .* choose one with --model"):
        submit.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    with pytest.raises(ValueError, match="no results of model 'nobody'"):
        submit.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--model", "nobody"])
    assert load_configurations([tmp_path / "runs"])


def test_two_sweeps_of_one_model_are_not_merged_unless_named(tmp_path):
    """An experiment's entries `ideal` and `ideal_new_samplers` both run pretrained=ideal: lm-eval names
    both results `ideal`, and a submission must not mix them without being told to."""
    experiment = tmp_path / "experiment"
    for entry, strategy_configs in (("ideal", ("threshold=0.5", "threshold=0.7", "threshold=0.9")),
                                    ("ideal_new_samplers", ("k=1", "k=2", "k=4"))):
        for i, gen_kwargs in enumerate(strategy_configs):
            write_run(experiment / entry / gen_kwargs, "ideal", "dllm", "pretrained=ideal", gen_kwargs,
                      {task: (0.9, 2.0 + i, 32) for task in TASKS}, f"2025-01-01T00-00-0{i}",
                      scored_with={task: PAPER for task in TEXT_WRITING})
        (experiment / entry / sweeps.SWEEP_RECORD).write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError) as error:
        submit.main([str(experiment), "--out", str(tmp_path / "out")])
    assert "several models or sweeps (ideal (from " in str(error.value)
    assert str(experiment / "ideal_new_samplers") in str(error.value) and "--model" in str(error.value)
    assert not (tmp_path / "out").exists()

    assert submit.main([str(experiment / "ideal_new_samplers"), "--out", str(tmp_path / "one")]) == 0
    assert list(json.loads((tmp_path / "one" / "leaderboard" / "ideal.json").read_text())["results"]) == [
        "confidence-topk"]
    assert submit.main([str(experiment), "--out", str(tmp_path / "both"), "--model", "ideal"]) == 0
    assert sorted(json.loads((tmp_path / "both" / "leaderboard" / "ideal.json").read_text())["results"]) == [
        "confidence-threshold", "confidence-topk"]


def test_compat_runs_are_submitted_under_the_leaderboards_ids_and_others_are_flagged(tmp_path, caplog):
    configs = ("factor=0.7,compat=parallelbench", "factor=1.0,compat=parallelbench", "factor=1.3,compat=parallelbench",
               "sampler=wino,wino_canvas=plain,wino_threshold=0.6,compat=parallelbench",
               "sampler=wino,wino_threshold=0.7,compat=parallelbench", "sampler=wino,wino_threshold=0.8,compat=parallelbench")
    complete_sweep(tmp_path / "runs", configs)
    out = tmp_path / "submission"
    assert submit.main([str(tmp_path / "runs"), "--out", str(out), "--name", "m"]) == 0
    assert sorted(p.name for p in (out / "figures" / "m").iterdir()) == ["confidence-factor.csv", "wino.csv"]
    record = json.loads((out / "submission.json").read_text())
    assert record["compat"] == "parallelbench" and record["warnings"] == []
    assert {c["report_strategy"] for c in record["strategies"]["wino"]} == {"wino-plain+compat"}
    assert "compat=parallelbench" not in caplog.text

    complete_sweep(tmp_path / "plain", ("factor=0.7", "factor=1.0,compat=parallelbench", "factor=1.3"))
    assert submit.main([str(tmp_path / "plain"), "--out", str(tmp_path / "flagged"), "--name", "m"]) == 0
    record = json.loads((tmp_path / "flagged" / "submission.json").read_text())
    assert record["compat"] == "mixed"
    assert len(record["warnings"]) == 2 and "2 of 3 configurations (confidence-factor) were not decoded" in record["warnings"][0]
    assert "strategies confidence-factor mix configurations" in record["warnings"][1]
    assert [c["compat"] for c in record["strategies"]["confidence-factor"]] == ["none", "parallelbench", "none"]
    assert "were not decoded with compat=parallelbench" in caplog.text

    complete_sweep(tmp_path / "cached", tuple(f"k={k},cache=dual,compat=parallelbench" for k in (1, 2, 4)))
    assert submit.main([str(tmp_path / "cached"), "--out", str(tmp_path / "unnamed"), "--name", "m"]) == 0
    record = json.loads((tmp_path / "unnamed" / "submission.json").read_text())
    assert record["warnings"] == ["strategies confidence-topk+dual carry options the public leaderboard's strategy ids "
                                  "do not name (a cache, a step schedule other than the family's, ...): they are "
                                  "written under these ids"]
