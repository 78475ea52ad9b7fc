"""`lm_eval --model dllm` end to end, offline, through lm-eval's own command line."""

import json
import os
import subprocess
import sys

import pytest


def run_cli(args, cwd):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.mark.slow
@pytest.mark.parametrize("entry", ["lm_eval", "python -m parallelbench_lmeval"])
def test_lm_eval_cli_runs_dllm_with_statistics_in_samples(tiny_masked_lm_dir, tmp_path, entry):
    launcher = [sys.executable, "-m", "lm_eval"] if entry == "lm_eval" else [sys.executable, "-m", "parallelbench_lmeval"]
    run_cli(
        launcher + [
            "--model", "dllm",
            "--model_args", f"pretrained={tiny_masked_lm_dir},k=4",
            "--tasks", "parallelbench_copy",
            "--limit", "4", "--batch_size", "4", "--device", "cpu",
            "--log_samples", "--output_path", str(tmp_path / "out"),
        ],
        cwd=tmp_path,
    )
    (results_file,) = (tmp_path / "out").glob("*/results_*.json")
    (samples_file,) = (tmp_path / "out").glob("*/samples_parallelbench_copy_*.jsonl")
    results = json.loads(results_file.read_text())
    task = results["results"]["parallelbench_copy"]
    assert task["tokens_per_step,none"] == 4.0 and task["nfe,none"] == 8.0
    assert 0.0 <= task["score,none"] <= 1.0
    assert results["config"]["dllm_totals"]["samples"] == 4
    assert results["config"]["dllm_totals"]["nfe"] == 32
    assert results["config"]["dllm"]["family"] == "masked_lm"
    samples = [json.loads(line) for line in samples_file.read_text().splitlines()]
    assert len(samples) == 4
    for sample in samples:
        assert sample["nfe"] == 8 and sample["tokens_per_step"] == 4.0
        assert 0 <= sample["gen_tokens"] <= 32 and sample["decode_seconds"] > 0
        assert -1 <= sample["dec_order_kendall"] <= 1 and -1 <= sample["dec_order_spearman"] <= 1


@pytest.mark.slow
def test_gen_kwargs_choose_the_strategy_per_run_with_a_chat_template(tiny_masked_lm_dir, tmp_path):
    run_cli(
        [
            sys.executable, "-m", "lm_eval", "--model", "dllm",
            "--model_args", f"pretrained={tiny_masked_lm_dir}", "--device", "cpu",
            "--gen_kwargs", "unmasking=left_to_right,k=8",
            "--apply_chat_template", "--fewshot_as_multiturn", "--log_samples",
            "--tasks", "parallelbench_sort", "--limit", "2", "--output_path", str(tmp_path / "out"),
        ],
        cwd=tmp_path,
    )
    (results_file,) = (tmp_path / "out").glob("*/results_*.json")
    assert json.loads(results_file.read_text())["results"]["parallelbench_sort"]["nfe,none"] == 4.0
    (samples_file,) = (tmp_path / "out").glob("*/samples_parallelbench_sort_*.jsonl")
    prompt = json.loads(samples_file.read_text().splitlines()[0])["arguments"]["gen_args_0"]["arg_0"]
    # [user (example), assistant (its answer), user (question)] + generation prompt, as the tiny template renders it
    assert prompt.startswith("<|user|>\nYou are managing a waiting line")
    assert prompt.count("<|user|>") == 2 and prompt.count("<|assistant|>") == 2
    assert prompt.endswith("<|assistant|>\n")


def test_bad_strategy_fails_before_the_model_loads(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "lm_eval", "--model", "dllm", "--model_args", "pretrained=/no/such/model,unmasking=bogus",
         "--tasks", "parallelbench_copy", "--limit", "1"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )
    assert done.returncode != 0
    assert "unknown unmasking strategy 'bogus'; allowed: random, confidence, margin, entropy, left_to_right" in done.stderr


def test_simple_evaluate_accepts_a_diffusion_lm_instance(tiny_masked_lm_dir):
    from lm_eval import simple_evaluate

    from parallelbench_lmeval.models.dllm import DiffusionLM

    lm = DiffusionLM(pretrained=str(tiny_masked_lm_dir), device="cpu", batch_size=2, k=8)
    results = simple_evaluate(model=lm, tasks=["parallelbench_reverse"], limit=2)
    assert results["results"]["parallelbench_reverse"]["nfe,none"] == 4.0
    assert results["config"]["dllm_totals"]["samples"] == 2


@pytest.mark.slow
def test_data_parallel_over_two_processes_sums_the_totals(tiny_masked_lm_dir, tmp_path):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    run_cli(
        torchrun + [
            "-m", "parallelbench_lmeval", "--model", "dllm",
            "--model_args", f"pretrained={tiny_masked_lm_dir},k=8",
            "--tasks", "parallelbench_copy", "--limit", "6", "--batch_size", "2", "--device", "cpu",
            "--log_samples", "--output_path", str(tmp_path / "out"),
        ],
        cwd=tmp_path,
    )
    (results_file,) = (tmp_path / "out").glob("*/results_*.json")
    (samples_file,) = (tmp_path / "out").glob("*/samples_parallelbench_copy_*.jsonl")
    config = json.loads(results_file.read_text())["config"]
    assert config["dllm"]["world_size"] == 2
    assert config["dllm_totals"]["samples"] == 6 and config["dllm_totals"]["nfe"] == 24
    assert len(samples_file.read_text().splitlines()) == 6


def test_the_results_record_the_effective_decoding_configuration():
    """Every option the run decoded with, defaults resolved (PC-Sampler's lambda, alpha and table here),
    and tokens per step of the totals named apart from the tasks' `tokens_per_step` metric."""
    import dataclasses

    from lm_eval import simple_evaluate

    from parallelbench_lmeval.decoding import DecodingConfig
    from parallelbench_lmeval.decoding.config import SAMPLERS
    from parallelbench_lmeval.models.dllm import DiffusionLM

    from lm_eval.tasks import TaskManager

    lm = DiffusionLM(pretrained="ideal", sampler="pc", k=2, device="cpu")
    results = simple_evaluate(model=lm, tasks=["parallelbench_copy", "parallelbench_sudoku"], limit=2,
                              bootstrap_iters=0, task_manager=TaskManager(include_defaults=False))
    (copy, sudoku) = results["config"]["dllm"]["decoding"]
    assert copy["tasks"] == ["parallelbench_copy"] and sudoku["tasks"] == ["parallelbench_sudoku"]
    assert copy["gen_length"] == 32 and sudoku["gen_length"] == 64
    fields = {f.name for f in dataclasses.fields(DecodingConfig)} - {"parameters"}
    assert set(copy) == {"tasks", *fields, *SAMPLERS["pc"].parameters}
    assert {name: copy[name] for name in SAMPLERS["pc"].parameters} == {
        "pc_lambda": 0.25, "pc_alpha": 10.0, "pc_frequencies": "uniform"}
    assert copy["sampler"] == "pc" and copy["k"] == 2 and copy["temperature"] == 0.0 and copy["cache"] == "none"
    totals = results["config"]["dllm_totals"]
    assert "tokens_per_step" not in totals and totals["pooled_tokens_per_step"] == totals["canvas_tokens"] / totals["nfe"]
