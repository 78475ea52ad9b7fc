"""`dllm` and the tasks reach plain lm-eval through the installed autoload hook, at no cost to other programs."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HOOK_PTH = REPO / "parallelbench_lmeval_autoload.pth"


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_interpreter_start_imports_nothing_heavy():
    out = run_python(
        "import sys; print(sorted(m for m in ('torch', 'lm_eval', 'transformers', 'parallelbench_lmeval.registration') "
        "if m in sys.modules), 'parallelbench_lmeval._autoload' in sys.modules)"
    )
    assert out == "[] True"


def start_with_site_dir(site_dir: Path, code: str) -> subprocess.CompletedProcess:
    """A fresh interpreter that processes the `.pth` files of `site_dir` and no others, as `site`
    does at start-up (-S: no site-packages of its own; -I: no environment, user site or cwd)."""
    command = [sys.executable, "-I", "-S", "-c", f"import site; site.addsitedir({str(site_dir)!r}); {code}"]
    return subprocess.run(command, capture_output=True, text=True, cwd="/", timeout=120)


def test_hook_adds_only_its_own_modules_to_interpreter_start(tmp_path):
    """`sys.modules` after start-up with the shipped `.pth` and without: only the hook's own module
    and its package may differ (no importlib.abc or anything else loaded for every program)."""
    modules = {}
    for name in ("without_hook", "with_hook"):
        site_dir = tmp_path / name
        site_dir.mkdir()
        (site_dir / "_checkout.pth").write_text(f"{REPO}\n", encoding="utf-8")  # the package importable, as installed
        if name == "with_hook":
            shutil.copy(HOOK_PTH, site_dir)
        done = start_with_site_dir(site_dir, "import sys, json; print(json.dumps(sorted(sys.modules)))")
        assert done.returncode == 0 and done.stderr == "", done.stderr
        modules[name] = set(json.loads(done.stdout))
    assert modules["with_hook"] - modules["without_hook"] == {"parallelbench_lmeval", "parallelbench_lmeval._autoload"}
    assert modules["without_hook"] <= modules["with_hook"]


@pytest.mark.parametrize("leftover", ["nothing", "task folder"])
def test_leftover_hook_is_silent_without_its_package(tmp_path, leftover):
    """A `.pth` left behind by an uninstall (or an editable install whose checkout is gone, which
    leaves the packaged task folder as a namespace `parallelbench_lmeval/`) prints nothing."""
    shutil.copy(HOOK_PTH, tmp_path)
    if leftover == "task folder":
        (tmp_path / "parallelbench_lmeval" / "task_yamls").mkdir(parents=True)
    done = start_with_site_dir(tmp_path, "import sys; print('parallelbench_lmeval._autoload' in sys.modules)")
    assert (done.returncode, done.stdout, done.stderr) == (0, "False\n", "")


@pytest.mark.parametrize("hook_code, shown", [
    ("raise RuntimeError('broken hook')", "RuntimeError: broken hook"),
    ("import no_such_module_of_the_hook", "No module named 'no_such_module_of_the_hook'"),
])
def test_errors_inside_the_hook_are_still_shown(tmp_path, hook_code, shown):
    shutil.copy(HOOK_PTH, tmp_path)
    package = tmp_path / "parallelbench_lmeval"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "_autoload.py").write_text(hook_code + "\n", encoding="utf-8")
    done = start_with_site_dir(tmp_path, "pass")
    assert shown in done.stderr and "parallelbench_lmeval_autoload.pth" in done.stderr


def test_plain_lm_eval_registry_finds_dllm():
    out = run_python("from lm_eval.api.registry import get_model; print(get_model('dllm').__name__)")
    assert out == "DiffusionLM"


def test_lm_eval_own_models_stay_available():
    out = run_python("from lm_eval.api.registry import get_model; print(get_model('hf').__name__, get_model('dummy').__name__)")
    assert out == "HFLM DummyLM"


def test_task_manager_sees_parallelbench_without_include_path():
    out = run_python(
        "from lm_eval.tasks import TaskManager; tm = TaskManager(); "
        "print('parallelbench_copy' in tm.all_tasks, 'parallelbench' in tm.all_groups)"
    )
    assert out == "True True"


def test_user_include_path_is_kept(tmp_path):
    out = run_python(
        f"from lm_eval.tasks import TaskManager; tm = TaskManager(include_path={str(tmp_path)!r}); "
        "print(tm.include_path)"
    )
    assert str(tmp_path) in out and "task_yamls" in out


def test_parallelbench_command_lists_its_subcommands():
    done = subprocess.run([sys.executable, "-m", "parallelbench_lmeval.cli", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for name in ("eval", "theory", "sweep", "report"):
        assert name in done.stdout


def test_unknown_subcommand_names_the_allowed_ones():
    done = subprocess.run([sys.executable, "-m", "parallelbench_lmeval.cli", "evaluate"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith(
        "error: unknown command 'evaluate' (did you mean 'eval'?); allowed: eval, theory, sweep, report, run, submit")


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    readme = (REPO / "README.md").read_text()
    command = ci.strip().splitlines()[-1]
    assert command.startswith("pip install torch==2.13.0")
    assert command in readme


def test_the_hook_intercepts_every_module_registration_patches():
    from parallelbench_lmeval import _autoload, registration

    assert set(_autoload._PATCHED_MODULES) == set(registration.PATCHES)
