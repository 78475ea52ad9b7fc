"""`parallelbench sweep`: one model load, one lm-eval folder per configuration, resuming after a kill."""

import json
import os
from types import SimpleNamespace

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


@pytest.fixture
def model_loads(monkeypatch):
    """(model, model_args, additional config) of every model a sweep loads."""
    import lm_eval.api.registry

    loads, get_model = [], lm_eval.api.registry.get_model

    def recording_get_model(name):
        def create_from_arg_string(arg_string, additional_config=None):
            loads.append((name, arg_string, additional_config))
            return get_model(name).create_from_arg_string(arg_string, additional_config)

        return SimpleNamespace(create_from_arg_string=create_from_arg_string)

    monkeypatch.setattr(lm_eval.api.registry, "get_model", recording_get_model)
    return loads


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
        scores = list((out / name).rglob(f"scores_{STANDIN_TASK}_*.jsonl"))  # lm-eval's samples only when asked
        assert len(results) == 1 and len(scores) == 1 and not list((out / name).rglob("samples_*")), name
        assert len(scores[0].read_text(encoding="utf-8").splitlines()) == 3
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
    def crash(folder, date_id, samples):
        raise KeyboardInterrupt("killed after the results JSON, before the per-item scores")

    monkeypatch.setattr(sweep, "write_item_scores", crash)
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


def test_samples_when_asked_and_per_item_scores_otherwise(sweep_args, tmp_path):
    """--log_samples writes lm-eval's samples files; without it the per-item scores, the same
    results files, and the same figures in the report, the per-item oracle included."""
    config = sweep_args.index("--config")
    args = [*sweep_args[:config], *sweep_args[config + 2:]]  # the top-k grid only
    sweep.main([*args, "--output_path", str(tmp_path / "full"), "--log_samples"])
    sweep.main([*args, "--output_path", str(tmp_path / "lean")])
    for name in CONFIG_NAMES[:-1]:
        samples = [json.loads(line) for path in (tmp_path / "full" / name).rglob("samples_*.jsonl")
                   for line in path.read_text(encoding="utf-8").splitlines()]
        scores = [json.loads(line) for path in (tmp_path / "lean" / name).rglob("scores_*.jsonl")
                  for line in path.read_text(encoding="utf-8").splitlines()]
        assert len(samples) == 3 and {"doc", "arguments", "resps"} <= set(samples[0])
        assert scores == [{"doc_id": s["doc_id"], "filter": s["filter"], **{m: s[m] for m in s["metrics"]}}
                          for s in samples]
        assert not list((tmp_path / "full" / name).rglob("scores_*")) and not list((tmp_path / "lean" / name).rglob("samples_*"))
        full, lean = (json.loads(next((tmp_path / kind / name).rglob("results_*.json")).read_text(encoding="utf-8"))
                      for kind in ("full", "lean"))
        assert full["results"] == lean["results"] and full["task_hashes"] == lean["task_hashes"]
    configurations = {kind: load_configurations([tmp_path / kind]) for kind in ("full", "lean")}
    items = {kind: sorted(c.tasks[STANDIN_TASK].item_scores().items() for c in configurations[kind])
             for kind in configurations}
    assert items["full"] == items["lean"] and len(items["full"]) == len(CONFIG_NAMES) - 1


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

    FakeListLM.crash_after = 1  # the first configuration finishes: the folder holds this sweep now
    with pytest.raises(KeyboardInterrupt):
        sweep.main(sweep_args)
    limit = sweep_args.index("--limit")
    with pytest.raises(ValueError, match="limit"):
        sweep.main([*sweep_args[:limit], "--limit", "2"])


def test_sweep_failing_before_its_first_configuration_leaves_the_folder_free(sweep_args, tmp_path):
    FakeListLM.crash_after = 0
    with pytest.raises(KeyboardInterrupt):
        sweep.main(sweep_args)
    out = tmp_path / "sweep"
    assert not (out / sweep.SWEEP_RECORD).exists()
    assert (out / f".partial-confidence_k1/{sweep.STARTED_MARKER}").is_file()

    FakeListLM.crash_after = None
    limit = sweep_args.index("--limit")
    sweep.main([*sweep_args[:limit], "--limit", "2"])  # corrected settings, same folder
    assert _finished(out) == sorted(CONFIG_NAMES)
    assert json.loads((out / sweep.SWEEP_RECORD).read_text(encoding="utf-8"))["limit"] == 2


def test_readme_sweep_form_with_batch_size_in_model_args(tmp_path, monkeypatch, model_loads, capsys, caplog):
    """The issue's command: `batch_size` in --model_args, none given by flag."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    out = tmp_path / "S"
    command = ["--model", "dllm", "--model_args", "pretrained=ideal,batch_size=8", "--tasks", "parallelbench_copy",
               "--limit", "2", "--config", "unmasking=confidence,k=2", "--output_path", str(out)]
    sweep.main(command)
    assert model_loads == [("dllm", "pretrained=ideal,batch_size=8", {})]
    # it ends with the summary table, and without lm-eval's notices about our gen_kwargs and our datasets
    printed = capsys.readouterr().out.splitlines()
    assert printed[1].split()[:4] == ["model", "strategy", "configs", "PB80"]
    assert printed[3].split()[:3] == ["ideal", "confidence-topk", "1"] and printed[-1] == f"results in {out}"
    assert "do_sample=True" not in caplog.text and "Custom kwargs" not in caplog.text
    results = json.loads(next((out / "confidence_k2").rglob("results_*.json")).read_text(encoding="utf-8"))
    assert results["config"]["batch_size"] == 8
    # batch size does not change results: not part of what the folder holds
    assert json.loads((out / sweep.SWEEP_RECORD).read_text(encoding="utf-8"))["model_args"] == "pretrained=ideal"

    # the same batch size given both ways, or moved to the flag: the same sweep, nothing left to run
    sweep.main([*command, "--batch_size", "8"])
    sweep.main([*command[:3], "pretrained=ideal", *command[4:], "--batch_size", "16"])
    assert len(model_loads) == 1

    with pytest.raises(ValueError) as error:
        sweep.main([*command, "--batch_size", "4", "--config", "unmasking=random,k=2"])
    assert "batch_size=8 in --model_args and --batch_size 4" in str(error.value)
    with pytest.raises(ValueError, match="device=cpu in --model_args and --device cuda:1"):
        sweep.main([*command[:3], "pretrained=ideal,device=cpu", *command[4:], "--device", "cuda:1",
                    "--config", "unmasking=random,k=2"])
    assert len(model_loads) == 1
    assert not (out / "random_k2").exists() and not (out / ".partial-random_k2").exists()


def test_batch_size_given_by_flag_only_reaches_the_model(sweep_args, model_loads):
    sweep.main([*sweep_args, "--batch_size", "4", "--device", "cpu"])
    assert model_loads == [(FAKE_MODEL, "pretrained=fake", {"batch_size": "4", "device": "cpu"})]


def test_folders_the_sweep_did_not_write_are_refused_and_left_untouched(sweep_args, tmp_path, model_loads):
    out = tmp_path / "sweep"
    own = out / "confidence_k2"  # the user's folder, named like a configuration
    own.mkdir(parents=True)
    (own / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ValueError) as error:
        sweep.main(sweep_args)
    assert str(own) in str(error.value) and "no sweep_config.json" in str(error.value)
    assert "move or remove it yourself, or use another --output_path" in str(error.value)
    assert model_loads == [] and (own / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert sorted(os.listdir(out)) == ["confidence_k2"]

    own.rename(tmp_path / "kept")
    foreign_partial = out / ".partial-random_k4"  # not started by a sweep (no start marker)
    foreign_partial.mkdir()
    (foreign_partial / "data.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match=r"\.partial-random_k4 was not started by a sweep \(no sweep_started.json\)"):
        sweep.main(sweep_args)
    assert model_loads == [] and (foreign_partial / "data.json").exists()

    foreign_partial.rename(tmp_path / "kept_partial")
    (out / ".partial-random_k1").mkdir()  # empty: what a kill right after creating the folder leaves
    (out / "random_k2").write_text("a file, not a folder", encoding="utf-8")
    with pytest.raises(ValueError, match="random_k2 exists but is not a finished sweep configuration"):
        sweep.main(sweep_args)
    (out / "random_k2").unlink()
    sweep.main(sweep_args)
    assert _finished(out) == sorted(CONFIG_NAMES) and len(model_loads) == 1


def test_everything_that_changes_prompts_or_scores_is_recorded(sweep_args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    include = sweep_args.index("--include_path")
    args = [*sweep_args[:include + 1], "tasks", *sweep_args[include + 2:], "--system_instruction", "Be brief."]
    config = args.index("--config")
    args = args[:config] + args[config + 2:]  # the top-k grid only
    FakeListLM.crash_after = 1
    with pytest.raises(KeyboardInterrupt):
        sweep.main(args)
    record = json.loads((tmp_path / "sweep" / sweep.SWEEP_RECORD).read_text(encoding="utf-8"))
    assert record["system_instruction"] == "Be brief."
    assert record["include_path"] == str((tmp_path / "tasks").resolve())  # a relative path means nothing later
    assert record["PARALLELBENCH_GRAMMAR"] == os.environ["PARALLELBENCH_GRAMMAR"]
    assert record["PARALLELBENCH_SCORERS"] is None

    FakeListLM.crash_after = None
    with pytest.raises(ValueError, match="system_instruction differ"):
        sweep.main([*args[:-1], "Be verbose."])
    with pytest.raises(ValueError, match="system_instruction differ"):
        sweep.main(args[:-2])
    monkeypatch.setenv("PARALLELBENCH_GRAMMAR", "languagetool")
    with pytest.raises(ValueError, match="PARALLELBENCH_GRAMMAR differ"):
        sweep.main(args)
    assert FakeListLM.calls == 1


def test_settings_older_sweeps_did_not_record_count_as_unset():
    old = {"model": "dllm", "model_args": "pretrained=ideal,batch_size=8", "tasks": ["parallelbench_copy"],
           "limit": 2, "num_fewshot": None, "apply_chat_template": False, "fewshot_as_multiturn": False, "seed": 0}
    args = SimpleNamespace(model="dllm", model_args="pretrained=ideal", tasks=["parallelbench_copy"], limit=2,
                           num_fewshot=None, apply_chat_template=False, fewshot_as_multiturn=False,
                           system_instruction=None, include_path=None, seed=0)
    unset = {name: None for name in sweep.SCORING_ENVIRONMENT}
    with pytest.MonkeyPatch.context() as environment:
        for name in sweep.SCORING_ENVIRONMENT:
            environment.delenv(name, raising=False)
        current = sweep.sweep_record(args)
    assert current == {**old, "model_args": "pretrained=ideal", "system_instruction": None, "include_path": None,
                       **unset}
    assert sweep.changed_settings(old, current) == []
    assert sweep.changed_settings(old, {**current, "system_instruction": "Be brief."}) == ["system_instruction"]
    assert sweep.changed_settings(old, {**current, "PARALLELBENCH_GRAMMAR": "harper"}) == ["PARALLELBENCH_GRAMMAR"]
    assert sweep.changed_settings({**old, "seed": 1}, current) == ["seed"]


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


def test_each_configuration_records_what_simple_evaluate_records(tmp_path, monkeypatch):
    """The sweep builds the tasks once and gathers the environment once; each configuration's
    results are still those of lm-eval's `simple_evaluate` with its gen_kwargs (none of the
    configuration before leaks in)."""
    from lm_eval import evaluator

    from parallelbench_lmeval.models.dllm import DiffusionLM

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    tasks, options = ["parallelbench_copy", "parallelbench_sudoku"], {"threshold": 0.9}
    sweep.main(["--model", "dllm", "--model_args", "pretrained=ideal", "--tasks", ",".join(tasks), "--limit", "4",
                "--config", "unmasking=random,k=2,block_length=2", "--config", "threshold=0.9",
                "--bootstrap_iters", "0", "--output_path", str(tmp_path)])
    swept = json.loads(next((tmp_path / "confidence_threshold0.9").rglob("results_*.json")).read_text(encoding="utf-8"))
    direct = evaluator.simple_evaluate(model=DiffusionLM(pretrained="ideal"), tasks=tasks, limit=4, bootstrap_iters=0,
                                       gen_kwargs=options, random_seed=0, numpy_random_seed=0, torch_random_seed=0,
                                       fewshot_random_seed=0, task_manager=sweep.task_manager_for(tasks, None))
    direct = json.loads(json.dumps(direct, default=str))  # as lm-eval's tracker writes it
    assert set(direct) - {"samples"} <= set(swept)
    timing = {"date", "dllm_totals", "model", "model_args", "batch_size"}  # the last three: as `lm_eval` records them
    def untimed(value):  # without the measured decoding times
        if isinstance(value, dict):
            return {k: untimed(v) for k, v in value.items() if not k.startswith("decode_seconds")}
        return value

    for key in set(direct) - {"samples", "config", "date"}:  # results, configs, n-samples, environment, versions, ...
        assert untimed(swept[key]) == untimed(direct[key]), key
    assert {k: v for k, v in swept["config"].items() if k not in timing} == \
        {k: v for k, v in direct["config"].items() if k not in timing}
    assert swept["config"]["model"] == "dllm" and swept["config"]["gen_kwargs"] == options


def test_sampler_options_given_to_the_model_are_defaults_when_that_sampler_runs(tmp_path, tiny_masked_lm_dir,
                                                                                monkeypatch):
    """`--grid pc` on a model without a packaged frequency table: `pc_frequencies` in --model_args
    applies to the PC-Sampler configurations and is left out of the others."""
    from lm_eval.tasks import TaskManager

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    out = tmp_path / "sweep"
    args = sweep.build_parser().parse_args([
        "--model_args", f"pretrained={tiny_masked_lm_dir},pc_frequencies=uniform,device=cpu",
        "--tasks", "parallelbench_copy", "--output_path", str(out), "--bootstrap_iters", "0"])
    args.tasks, args.limit = ["parallelbench_copy"], 2
    configs = sweep.build_configs([], ["sampler=pc,k=16", "k=16"])
    sweep.sweep(args, configs, TaskManager(include_defaults=False))
    by_strategy = {c.strategy: c for c in load_configurations([out])}
    assert by_strategy["confidence-pc-sampler"].options == {"k": 16, "sampler": "pc", "pc_frequencies": "uniform"}
    assert by_strategy["confidence-topk"].options == {"k": 16}
    results = json.loads(next((out / "pc_k16").rglob("results_*.json")).read_text(encoding="utf-8"))
    (decoding,) = results["config"]["dllm"]["decoding"]
    assert decoding["pc_frequencies"] == "uniform" and decoding["pc_lambda"] == 0.25


def test_a_configuration_the_model_family_refuses_stops_the_sweep_before_any_runs(tmp_path, model_loads):
    command = ["--model_args", "pretrained=ideal", "--tasks", "parallelbench_copy", "--limit", "2",
               "--config", "unmasking=random,k=2", "--config", "unmasking=random,k=2,cache=prefix",
               "--output_path", str(tmp_path / "sweep")]
    with pytest.raises(ValueError, match="cache=prefix runs LLaDA's, LLaDA-MoE's or Dream's layers .* family 'ideal'"):
        sweep.main(command)
    assert model_loads == []
    assert not list((tmp_path / "sweep").glob("*/*"))
