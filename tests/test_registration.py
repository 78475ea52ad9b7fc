"""`dllm` and the tasks reach plain lm-eval through the installed autoload hook, at no cost to other programs."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


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
    assert "unknown command 'evaluate'; allowed: eval, theory, sweep, report" in done.stderr


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    readme = (REPO / "README.md").read_text()
    command = ci.strip().splitlines()[-1]
    assert command.startswith("pip install torch==2.13.0")
    assert command in readme
