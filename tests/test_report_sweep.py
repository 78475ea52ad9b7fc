"""`parallelbench sweep`: one model load, one lm-eval folder per configuration, resuming after a kill."""

import json

import pytest

from parallelbench_lmeval.report import sweep
from parallelbench_lmeval.report.cli import write_report
from parallelbench_lmeval.report.runs import load_configurations
from report_helpers import FAKE_MODEL, STANDIN_TASK, FakeListLM, write_standin_task

CONFIG_NAMES = ["confidence_k1", "confidence_k2", "confidence_k4", "random_k1", "random_k2", "random_k4",
                "confidence_threshold0.9"]


@pytest.fixture
def sweep_args(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(FakeListLM, "calls", 0)
    monkeypatch.setattr(FakeListLM, "crash_after", None)
    tasks = write_standin_task(tmp_path / "tasks")
    return ["--model", FAKE_MODEL, "--model_args", "pretrained=fake", "--tasks", STANDIN_TASK,
            "--include_path", str(tasks), "--output_path", str(tmp_path / "sweep"), "--grid", "topk",
            "--unmasking", "confidence,random", "--k_values", "1,2,4", "--config", "unmasking=confidence,threshold=0.9",
            "--bootstrap_iters", "0", "--limit", "3"]


def _finished(folder):
    return sorted(p.parent.name for p in folder.glob(f"*/{sweep.DONE_MARKER}"))


def test_killed_sweep_resumes_without_recomputing(sweep_args, tmp_path):
    FakeListLM.crash_after = 3
    with pytest.raises(KeyboardInterrupt):
        sweep.main(sweep_args)
    out = tmp_path / "sweep"
    assert _finished(out) == sorted(CONFIG_NAMES[:3])

    FakeListLM.crash_after = None
    sweep.main(sweep_args)
    assert FakeListLM.calls == len(CONFIG_NAMES)  # the three finished ones were not run again
    assert _finished(out) == sorted(CONFIG_NAMES)
    assert not list(out.glob(".partial-*"))
    for name in CONFIG_NAMES:
        results = list((out / name).rglob("results_*.json"))
        samples = list((out / name).rglob(f"samples_{STANDIN_TASK}_*.jsonl"))
        assert len(results) == 1 and len(samples) == 1, name
        assert len(samples[0].read_text(encoding="utf-8").splitlines()) == 3
    recorded = json.loads((out / "confidence_k2" / sweep.DONE_MARKER).read_text(encoding="utf-8"))
    assert recorded["options"] == {"unmasking": "confidence", "k": 2}

    sweep.main(sweep_args)  # nothing left to do: the model is not even loaded
    assert FakeListLM.calls == len(CONFIG_NAMES)

    configurations = load_configurations([out])
    assert sorted(c.label for c in configurations) == sorted(["k=1", "k=2", "k=4"] * 2 + ["threshold=0.9"])
    by_label = {(c.strategy, c.label): c for c in configurations}
    assert by_label[("random", "k=4")].tasks[STANDIN_TASK].tokens_per_step == 4.0
    assert by_label[("confidence-topk", "k=2")].model == "fake"


def test_kill_while_writing_leaves_nothing_the_report_reads(sweep_args, tmp_path, monkeypatch):
    from lm_eval.loggers import EvaluationTracker

    def crash(self, task_name, samples):
        raise KeyboardInterrupt("killed after the results JSON, before the samples")

    monkeypatch.setattr(EvaluationTracker, "save_results_samples", crash)
    with pytest.raises(KeyboardInterrupt):
        sweep.main(sweep_args)
    out = tmp_path / "sweep"
    assert list(out.glob(".partial-confidence_k1/*/results_*.json"))
    assert load_configurations([out]) == []

    monkeypatch.undo()
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    sweep.main(sweep_args)
    assert _finished(out) == sorted(CONFIG_NAMES)
    summary = write_report([out], tmp_path / "report", with_plots=False)
    assert set(summary["models"]["fake"]["strategies"]) == {"confidence-topk", "random", "confidence-threshold"}


def test_bad_configurations_and_changed_settings_fail_before_loading(sweep_args, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown unmasking strategy"):
        sweep.main([*sweep_args, "--config", "unmasking=sideways,k=2"])
    with pytest.raises(ValueError, match="drop k/steps"):
        sweep.main([*sweep_args, "--config", "k=2,threshold=0.9"])
    with pytest.raises(ValueError, match="give key=value pairs"):
        sweep.main([*sweep_args, "--config", "colour=blue"])
    with pytest.raises(ValueError, match="unknown task"):
        sweep.main([*sweep_args[:5], "no_such_task", *sweep_args[6:]])
    assert FakeListLM.calls == 0

    FakeListLM.crash_after = 0
    with pytest.raises(KeyboardInterrupt):
        sweep.main(sweep_args)
    limit = sweep_args.index("--limit")
    with pytest.raises(ValueError, match="limit"):
        sweep.main([*sweep_args[:limit], "--limit", "2"])


def test_preset_grids_match_the_paper():
    topk = sweep.grid_configs("topk")
    assert len(topk) == 5 * 6 and {c["k"] for c in topk} == {1, 2, 4, 8, 16, 32}
    assert [c["threshold"] for c in sweep.grid_configs("threshold")] == [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert [c["factor"] for c in sweep.grid_configs("factor")][::6] == [0.7, 1.9]
    semi_ar = sweep.grid_configs("semi_ar")
    assert {c["k"] for c in semi_ar} == {2} and "left_to_right" not in {c["unmasking"] for c in semi_ar}
    configs = sweep.build_configs(["topk", "topk"], ["unmasking=random,k=2", "k=2,unmasking=random"])
    assert len(configs) == 30  # duplicates dropped
    assert sweep.config_name({"unmasking": "confidence", "k": 2, "block_length": 8}) == "confidence_k2_block_length8"


def test_sweep_on_a_real_parallelbench_task_feeds_the_report(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(FakeListLM, "crash_after", None)
    sweep.main(["--model", FAKE_MODEL, "--model_args", "pretrained=fake", "--tasks", "parallelbench_copy",
                "--output_path", str(tmp_path / "sweep"), "--grid", "topk", "--unmasking", "random",
                "--k_values", "1,2", "--limit", "2", "--bootstrap_iters", "0"])
    summary = write_report([tmp_path / "sweep"], tmp_path / "report", with_plots=False)
    configurations = summary["models"]["fake"]["strategies"]["random"]["configurations"]
    # the task logs the model's per-sample tokens per step; the fake's list answer is wrong for Copy
    assert [(c["tokens_per_step"], c["accuracy"]) for c in configurations] == [(1.0, 0.0), (2.0, 0.0)]


@pytest.mark.parametrize(
    "config, message",
    [("k=2.5", "k must be an integer, got 2.5"), ("block_length=4.7", "block_length must be an integer"),
     ("k=abc", "k must be an integer, got 'abc'"), ("seed=x", "seed must be an integer, got 'x'")],
)
def test_explicit_configurations_are_checked_as_given(config, message):
    from parallelbench_lmeval.report.sweep import build_configs

    with pytest.raises(ValueError) as error:
        build_configs([], [config])
    assert message in str(error.value)


@pytest.mark.slow
def test_sweep_killed_by_a_signal_resumes_with_every_configuration_once(tmp_path):
    """A real `parallelbench sweep` process (ideal model, real tasks) SIGKILLed mid-run, then rerun."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "sweep"
    command = [
        sys.executable, "-m", "parallelbench_lmeval.cli", "sweep", "--model", "dllm", "--model_args", "pretrained=ideal",
        "--tasks", "parallelbench_copy,parallelbench_shuffle", "--limit", "20", "--bootstrap_iters", "0",
        "--grid", "topk", "--unmasking", "random,confidence", "--k_values", "1,2,4", "--output_path", str(out),
    ]
    expected = {f"{u}_k{k}" for u in ("random", "confidence") for k in (1, 2, 4)}
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1"}
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 300
    while not any(out.glob("*/sweep_config.json")) and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    finished_before = {p.parent.name for p in out.glob("*/sweep_config.json")}
    assert finished_before and finished_before < expected  # killed midway
    results_before = {p: p.stat().st_mtime_ns for name in finished_before for p in (out / name).glob("*/results_*.json")}

    subprocess.run(command, check=True, capture_output=True, env=env, timeout=600)
    finished = sorted(p.parent.name for p in out.glob("*/sweep_config.json"))
    assert sorted(set(finished)) == finished and set(finished) == expected
    assert not list(out.glob(".partial-*"))
    for name in finished:
        assert len(list((out / name).glob("*/results_*.json"))) == 1
    assert {p: p.stat().st_mtime_ns for p in results_before} == results_before  # not recomputed
