"""`parallelbench run`: a diffusion model and an autoregressive one in one experiment, one report.

The models are tiny random-weight stand-ins; the tasks a local multiple-choice task (scored
by `dllm`'s Monte-Carlo likelihood and `hf`'s exact one) and a ParallelBench task.
"""

import json
from pathlib import Path

import pytest

from parallelbench_lmeval.report import experiment

TINY_MC = Path(__file__).resolve().parent / "data" / "tiny_mc"


@pytest.fixture(scope="module")
def tiny_mc_tasks(tmp_path_factory) -> Path:
    """The local task's YAML, pointing at its data file by absolute path (as `datasets` needs)."""
    folder = tmp_path_factory.mktemp("tasks")
    template = (TINY_MC / "template.yaml").read_text()
    (folder / "tiny_mc.yaml").write_text(template.replace("DATA_FILE", str(TINY_MC / "tiny_mc.jsonl")))
    return folder


def write_experiment(path: Path, tasks: Path, output: Path, bert: Path, qwen: Path) -> Path:
    path.write_text(f"""
output_path: {output}
tasks: [tiny_mc, parallelbench_copy]
include_path: {tasks}
limit: 3
device: cpu
models:
  - name: diffusion
    model: dllm
    model_args: pretrained={bert},mc_num=4,mc_batch_size=2
    configs: ["k=4", "k=8"]
  - name: autoregressive
    model: hf
    model_args: pretrained={qwen}
""")
    return path


def test_a_dllm_and_an_hf_model_in_one_run_share_one_report(tmp_path, tiny_mc_tasks, tiny_masked_lm_dir, tiny_dream_dir,
                                                           capsys):
    output = tmp_path / "runs"
    spec = write_experiment(tmp_path / "experiment.yaml", tiny_mc_tasks, output, tiny_masked_lm_dir, tiny_dream_dir)
    assert experiment.main([str(spec)]) == 0
    printed = [line.split()[:2] for line in capsys.readouterr().out.splitlines()]  # ends with the summary table
    assert ["diffusion", "confidence-topk"] in printed and ["autoregressive", "autoregressive"] in printed
    summary = json.loads((output / "report" / "summary.json").read_text())
    assert set(summary["models"]) == {"diffusion", "autoregressive"}
    assert summary["models"]["diffusion"]["engine"] == "dllm" and summary["models"]["autoregressive"]["engine"] == "hf"
    table = (output / "report" / "tasks.md").read_text()
    assert "| diffusion | confidence-topk | k=4 (--limit 3) |" in table
    assert "| autoregressive | autoregressive | hf (--limit 3) |" in table
    results = [json.loads(p.read_text()) for p in sorted((output / "diffusion").rglob("results_*.json"))]
    assert len(results) == 2
    for result in results:  # the likelihood task ran through dllm's estimator, the generation task decoded
        assert 0.0 <= result["results"]["tiny_mc"]["acc,none"] <= 1.0
        assert result["results"]["parallelbench_copy"]["tokens_per_step,none"] in (4.0, 8.0)
    (hf_results,) = (output / "autoregressive").rglob("results_*.json")
    assert json.loads(hf_results.read_text())["config"]["model"] == "hf"

    # run again: every configuration is finished, nothing is evaluated again
    stamps = {p: p.stat().st_mtime_ns for p in output.rglob("results_*.json")}
    assert experiment.main([str(spec)]) == 0
    assert {p: p.stat().st_mtime_ns for p in output.rglob("results_*.json")} == stamps


@pytest.mark.parametrize("models, message", [
    ("  - {name: a, model: nosuchmodel}", "model 'a': unknown lm-eval model 'nosuchmodel'; known:"),
    ("  - {name: a, model: hf, model_args: pretrained=x}\n  - {name: a, model: hf, model_args: pretrained=y}",
     "two models are named 'a'"),
    ("  - {name: a, model: hf, grids: [topk]}", "grids and configs are dllm decoding options"),
    ("  - {name: a, model: dllm, model_args: 'pretrained=ideal,k=0'}", "k (tokens per step) must be a positive integer"),
    ("  - {name: a, model: dllm, model_args: pretrained=ideal, configs: ['sampler=wino,klass_kl_threshold=1']}",
     "klass_kl_threshold is an option of sampler=klass, not of sampler=wino"),
    ("  - {name: 'a b', model: hf}", "model name 'a b' must be letters, digits"),
    ("  - {name: a, model: dllm, model_args: pretrained=ideal, colour: red}", "unknown key(s) ['colour']"),
])
def test_a_bad_experiment_is_refused_before_any_model_loads(tmp_path, models, message):
    spec = tmp_path / "experiment.yaml"
    spec.write_text(f"output_path: {tmp_path / 'runs'}\ntasks: [parallelbench_copy]\nmodels:\n{models}\n")
    with pytest.raises(ValueError) as error:
        experiment.main([str(spec)])
    assert message in str(error.value)
    assert not (tmp_path / "runs").exists()


def test_unknown_settings_and_tasks_are_named(tmp_path):
    spec = tmp_path / "experiment.yaml"
    spec.write_text("output_path: out\ntasks: [parallelbench_copy]\nmodels: []\nbatchsize: 8\n")
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['batchsize'\] \(did you mean 'batch_size'\?\)"):
        experiment.main([str(spec)])
    spec.write_text(f"output_path: {tmp_path / 'runs'}\ntasks: [no_such_task]\nmodels:\n  - {{name: a, model: dllm, model_args: pretrained=ideal}}\n")
    with pytest.raises(ValueError, match=r"unknown task\(s\) \['no_such_task'\]"):
        experiment.main([str(spec)])
