"""Every bad `dllm` argument is refused before any weight is read, with a message naming it.

The cases below are also the "options refused before load" table of docs/hardening.md:
`python tests/test_option_checks.py` rewrites that table from them, and a test checks that
the page shows exactly what the code does.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from parallelbench_lmeval.models.dllm import DiffusionLM, check_model_args

DOC = Path(__file__).resolve().parent.parent / "docs" / "hardening.md"
TABLE_START, TABLE_END = "<!-- option-table:start -->", "<!-- option-table:end -->"
TINY = "<tiny BERT folder>"  # stands for the session's tiny masked LM in the table

# (model_args, start of the error message); TINY is replaced by the tiny model's folder
REFUSED = [
    ({"pretrained": TINY, "max_gen_toks": "0"}, "max_gen_toks must be a positive integer, got '0'"),
    ({"pretrained": TINY, "max_gen_toks": "-5"}, "max_gen_toks must be a positive integer, got '-5'"),
    ({"pretrained": TINY, "max_gen_toks": "2.5"}, "max_gen_toks must be an integer, got '2.5'"),
    ({"pretrained": TINY, "max_batch_size": "0"}, "max_batch_size must be a positive integer, got '0'"),
    ({"pretrained": TINY, "max_batch_size": "-3"}, "max_batch_size must be a positive integer, got '-3'"),
    ({"pretrained": TINY, "batch_size": "autoXYZ"}, "batch_size must be a positive integer or 'auto', got 'autoXYZ'"),
    ({"pretrained": TINY, "batch_size": "0"}, "batch_size must be a positive integer or 'auto', got '0'"),
    ({"pretrained": TINY, "eos_id": "-7"}, "eos_id must be a non-negative integer, got '-7'"),
    ({"pretrained": TINY, "mask_id": "999999"}, "mask_id=999999 is outside the vocabulary of"),
    ({"pretrained": TINY, "eot_id": "30522"}, "eot_id=30522 is outside the vocabulary of"),
    ({"pretrained": TINY, "dtype": "float8"},
     "unknown dtype 'float8' (did you mean 'float32'?); allowed: auto, bfloat16, float16, float32"),
    ({"pretrained": TINY, "family": "gpt"},
     "unknown family 'gpt'; allowed: llada, llada_moe, dream, masked_lm, sdar, llada2, fast_dllm_v2"),
    ({"pretrained": TINY, "trust_remote_code": "maybe"}, "trust_remote_code must be true or false, got 'maybe'"),
    ({"pretrained": TINY, "unmasking": "bogus"}, "unknown unmasking strategy 'bogus'; allowed:"),
    ({"pretrained": TINY, "unmasking": "confidenc"}, "unknown unmasking strategy 'confidenc' (did you mean 'confidence'?)"),
    ({"pretrained": TINY, "sampler": "winoo"}, "unknown sampler 'winoo' (did you mean 'wino'?)"),
    ({"pretrained": TINY, "sampler": "dus", "dus_base": "1"}, "dus_base must be an integer >= 2, got 1"),
    ({"pretrained": TINY, "wino_threshold": "1.5"}, "wino_threshold must lie in [0, 1], got 1.5"),
    ({"pretrained": TINY, "k": "0"}, "k (tokens per step) must be a positive integer, got 0"),
    ({"pretrained": TINY, "steps": "-1"}, "steps must be a positive integer, got -1"),
    ({"pretrained": TINY, "threshold": "1.5"}, "threshold must lie in (0, 1], got 1.5"),
    ({"pretrained": TINY, "temperature": "nan"}, "temperature must be a finite number, got 'nan'"),
    ({"pretrained": TINY, "k": "2", "schedule": "uneven"}, "unknown schedule 'uneven'; allowed: even, dream"),
    ({"pretrained": TINY, "threshold": "0.9", "schedule": "dream"}, "schedule=dream spreads the tokens of top-k decoding"),
    ({"pretrained": TINY, "k": "2", "dream_eps": "0.001"}, "dream_eps is the last timestep of schedule=dream"),
    ({"pretrained": TINY, "compat": "benchmark"}, "unknown compat 'benchmark'; allowed: none, parallelbench"),
    ({"pretrained": TINY, "sampler": "wino", "wino_canvas": "extended", "compat": "parallelbench"},
     "compat=parallelbench runs the benchmark's WINO (wino_canvas=plain)"),
    ({"pretrained": TINY, "top_p": "0.9"}, "unknown dllm option(s) ['top_p']"),
    ({"pretrained": TINY, "thresh": "0.9"}, "unknown dllm option(s) ['thresh'] (did you mean 'threshold'?)"),
    ({"pretrained": "/no/such/model"}, "pretrained='/no/such/model': no such local folder"),
    ({"pretrained": "./models/missing"}, "pretrained='./models/missing': no such local folder"),
    ({"pretrained": "models/tiny_lada"},
     "pretrained='models/tiny_lada': no such local folder; models/ holds tiny_llada (did you mean 'tiny_llada'?)"),
    ({"pretrained": "<folder whose config.json is not JSON>"}, "config.json is not valid JSON (Expecting value"),
    ({"pretrained": "<folder of a LLaDA config>"}, "pass trust_remote_code=True in --model_args if you trust"),
]

# accepted, with a logged warning that says what the schedule does instead
CLAMPED = [
    ({"steps": "100"}, "steps=100 is more than the 16 tokens to decode: decoding one token per step (16 steps)"),
    ({"k": "64"}, "k=64 is more than the 16 tokens of a block: each block is decoded in one step"),
]


@pytest.fixture(scope="module")
def remote_code_dir(tmp_path_factory):
    """A folder whose config asks for its own modeling code, as LLaDA's does on the hub."""
    folder = tmp_path_factory.mktemp("llada_like")
    config = {"model_type": "llada", "auto_map": {"AutoConfig": "configuration_llada.LLaDAConfig",
                                                  "AutoModel": "modeling_llada.LLaDAModelLM"}}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="module")
def broken_config_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("broken_config")
    (folder / "config.json").write_text("<html>not found</html>")
    return folder


@pytest.fixture
def beside_a_models_folder(tmp_path, monkeypatch):
    """Runs in a folder holding `models/tiny_llada/`, as after the README's tiny-model command."""
    (tmp_path / "models" / "tiny_llada").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)


def _resolve(args: dict, tiny: Path, remote: Path, broken: Path) -> dict:
    paths = {TINY: str(tiny), "<folder of a LLaDA config>": str(remote), "<folder whose config.json is not JSON>": str(broken)}
    return {key: paths.get(value, value) for key, value in args.items()}


@pytest.mark.parametrize("args, message", REFUSED, ids=[json.dumps(a) for a, _ in REFUSED])
def test_bad_arguments_are_refused_before_the_weights_load(args, message, tiny_masked_lm_dir, remote_code_dir,
                                                           broken_config_dir, beside_a_models_folder, no_weights):
    resolved = _resolve(args, tiny_masked_lm_dir, remote_code_dir, broken_config_dir)
    with pytest.raises(ValueError) as error:
        DiffusionLM(device="cpu", **resolved)
    assert message in str(error.value)
    with pytest.raises(ValueError) as early:  # the same check, as the lm_eval hook runs it
        check_model_args(resolved, {"device": "cpu"})
    assert str(early.value) == str(error.value)


@pytest.mark.parametrize("args, message", CLAMPED, ids=[json.dumps(a) for a, _ in CLAMPED])
def test_k_and_steps_beyond_the_canvas_are_clamped_with_a_warning(args, message, tiny_masked_lm_dir, caplog):
    lm = DiffusionLM(pretrained=str(tiny_masked_lm_dir), device="cpu", **args)
    request = SimpleNamespace(args=("hello there", {"until": [], "max_gen_toks": 16}))
    with caplog.at_level(logging.WARNING):
        (output,) = lm.generate_until([request], disable_tqdm=True)
    assert message in caplog.text
    assert output.stats["nfe"] == (16 if "steps" in args else 1)


def test_remote_code_is_off_by_default_and_named_in_the_error(remote_code_dir):
    with pytest.raises(ValueError) as error:
        check_model_args({"pretrained": str(remote_code_dir)})
    message = str(error.value)
    assert "trust_remote_code=True" in message and str(remote_code_dir) in message and "'llada'" in message


def test_an_argument_given_twice_names_the_flag(tiny_masked_lm_dir):
    with pytest.raises(ValueError, match=r"batch_size given both in --model_args and by lm-eval's own flag \(--batch_size\)"):
        check_model_args({"pretrained": str(tiny_masked_lm_dir), "batch_size": "8"}, {"batch_size": 1})


def test_lm_eval_reports_a_bad_argument_before_indexing_its_tasks(tmp_path):
    """lm-eval builds its TaskManager (which indexes every task) before the model: the hook checks first."""
    code = (
        "import sys, lm_eval.tasks.manager as manager\n"
        "original = manager.TaskManager.__init__\n"
        "def announce(*args, **kwargs):\n"
        "    print('TASK INDEXING STARTED', flush=True)\n"
        "    original(*args, **kwargs)\n"
        "manager.TaskManager.__init__ = announce\n"
        "from lm_eval.__main__ import cli_evaluate\n"
        "sys.argv = ['lm_eval', '--model', 'dllm', '--model_args', 'pretrained=/no/such/model', "
        "'--tasks', 'parallelbench_copy', '--device', 'cpu']\n"
        "cli_evaluate()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode != 0
    assert "pretrained='/no/such/model': no such local folder" in done.stderr
    assert "TASK INDEXING STARTED" not in done.stdout


def render_table() -> str:
    rows = ["| `--model_args` | refused before any weight loads, with |", "|---|---|"]
    for args, message in REFUSED:
        shown = ",".join(f"{key}={value}" for key, value in args.items())
        rows.append(f"| `{shown}` | `{message}` … |")
    rows += ["", "| accepted, clamped | logged warning |", "|---|---|"]
    for args, message in CLAMPED:
        shown = ",".join(f"{key}={value}" for key, value in args.items())
        rows.append(f"| `{shown}` (16-token canvas) | `{message}` |")
    return "\n".join(rows)


def _documented_table() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text[text.index(TABLE_START) + len(TABLE_START) : text.index(TABLE_END)].strip()


def test_the_documented_table_is_the_tested_one():
    assert _documented_table() == render_table(), "run `python tests/test_option_checks.py` to regenerate docs/hardening.md"


if __name__ == "__main__":
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    DOC.write_text(text[:start] + "\n" + render_table() + "\n" + text[end:], encoding="utf-8")
    print(f"rewrote the option table of {DOC}")
