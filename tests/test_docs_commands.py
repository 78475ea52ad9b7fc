"""Every shell command in README.md and docs/*.md (its ```bash blocks; ```text blocks, such as the
equivalence commands that need a reference checkout, are not run) works as written.

Commands that need the hub, a GPU or an API key cannot run here; each is checked as far as it
can be without them: its arguments parse with the real parser of its program, every model,
task, grid, option value, experiment file and script it names exists and is valid, models with
their own code say `trust_remote_code=True`, and local model folders are made by an earlier
command of the same block. The quick start's main command runs for real.
"""

from __future__ import annotations

import argparse
import importlib
import re
import shlex
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# hub organisations whose models ship their own modeling code (LLaDA, Dream, DiffuCoder, LLaDA-MoE,
# LLaDA2.x, SDAR, TraDo, Fast-dLLM v2)
REMOTE_CODE_ORGS = ("GSAI-ML/", "Dream-org/", "apple/DiffuCoder", "inclusionAI/", "JetLM/", "Gen-Verse/",
                    "Efficient-Large-Model/")
KNOWN_ENVIRONMENT = re.compile(r"(PARALLELBENCH_[A-Z_]+|HF_[A-Z_]+|CUDA_VISIBLE_DEVICES)=")


def shell_blocks(text: str) -> list[list[str]]:
    """The commands of each ```bash block: continuation lines joined, comments dropped, `&&` split."""
    blocks = []
    for body in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", body)
        commands = []
        for line in joined.splitlines():
            line = line.split(" #")[0].strip() if not line.lstrip().startswith("#") else ""
            commands += [part.strip() for part in line.split("&&") if part.strip()]
        blocks.append(commands)
    return blocks


def documented_commands() -> list[tuple[str, int, str, list[str]]]:
    """(document, block number, command, the commands before it in its block)."""
    found = []
    for path in DOCUMENTS:
        for number, block in enumerate(shell_blocks(path.read_text(encoding="utf-8"))):
            for index, command in enumerate(block):
                found.append((path.relative_to(REPO).as_posix(), number, command, block[:index]))
    return found


COMMANDS = documented_commands()


@cache
def extras() -> set[str]:
    return set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])


@cache
def task_names() -> set[str]:
    """Task and group names of our task folder and of lm-eval's, read from the YAML files (indexing
    them with lm-eval's TaskManager takes minutes on a loaded machine)."""
    import lm_eval

    names = set()
    for folder in (REPO / "task_yamls", Path(lm_eval.__file__).parent / "tasks"):
        for path in folder.rglob("*.yaml"):
            text = path.read_text(encoding="utf-8", errors="replace")
            names.update(re.findall(r"^(?:task|group):\s*['\"]?([\w.\-]+)", text, flags=re.M))
    return names


def check_tasks(tasks: str | list[str]) -> None:
    from parallelbench_lmeval.generate.families import parse_name  # raises on an impossible generated name

    listed = tasks.split(",") if isinstance(tasks, str) else tasks
    unknown = [task for task in listed if task not in task_names() and parse_name(task) is None]
    assert not unknown, f"unknown task(s) {unknown}"


def check_pretrained(model_args: dict, earlier: list[str]) -> None:
    pretrained = str(model_args.get("pretrained", ""))
    if pretrained.startswith(REMOTE_CODE_ORGS):
        assert str(model_args.get("trust_remote_code", "")).lower() == "true", (
            f"{pretrained} runs its own code: the command must say trust_remote_code=True")
    if pretrained.startswith(("models/", "./", "/")):
        assert any(pretrained in command for command in earlier), f"{pretrained}: no earlier command makes it"


def as_arguments(model_args: str | dict | None) -> dict:
    """`key=value,...` (our commands, experiment files) or the dict lm-eval's parser makes of it."""
    from lm_eval.utils import simple_parse_args_string

    return dict(model_args) if isinstance(model_args, dict) else simple_parse_args_string(model_args or "")


def check_dllm_args(model_args_text: str | dict, earlier: list[str], flags: dict | None = None) -> None:
    from parallelbench_lmeval.models.settings import ModelSettings

    model_args = as_arguments(model_args_text)
    check_pretrained(model_args, earlier)
    ModelSettings.parse(**{**model_args, **{k: v for k, v in (flags or {}).items() if v is not None}})


def check_model(model: str, model_args_text: str | dict, earlier: list[str]) -> None:
    import lm_eval.api.registry

    from parallelbench_lmeval.registration import ensure_registered

    ensure_registered()
    lm_eval.api.registry.get_model(model)
    if model == "dllm":
        check_dllm_args(model_args_text, earlier)
    else:
        check_pretrained(as_arguments(model_args_text), earlier)


def check_lm_eval(arguments: list[str], earlier: list[str]) -> None:
    from lm_eval._cli.run import Run

    parser = argparse.ArgumentParser(prog="lm_eval")
    Run.create(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["run", *arguments])
    check_model(args.model, args.model_args, earlier)
    check_tasks(args.tasks)
    if args.gen_kwargs:
        from parallelbench_lmeval.decoding import DecodingConfig

        DecodingConfig.from_options(gen_length=None, **as_arguments(args.gen_kwargs))


def check_parallelbench(arguments: list[str], earlier: list[str]) -> None:
    from parallelbench_lmeval.cli import SUBCOMMANDS

    command, rest = arguments[0], arguments[1:]
    assert command in SUBCOMMANDS, f"unknown subcommand {command}"
    if command == "eval":
        return check_lm_eval(rest, earlier)
    if command == "run":
        return check_experiment_file(rest)
    args = importlib.import_module(SUBCOMMANDS[command][0]).build_parser().parse_args(rest)
    if command == "sweep":
        from parallelbench_lmeval.report import sweep

        sweep.build_configs(args.grid, args.config)
        if args.model == "dllm":
            check_dllm_args(args.model_args, earlier, {"batch_size": args.batch_size, "device": args.device})
        check_tasks(args.tasks)


def check_experiment_file(arguments: list[str]) -> None:
    from parallelbench_lmeval.report import experiment, sweep

    args = experiment.build_parser().parse_args(arguments)
    settings, entries = experiment.parse_experiment(args.experiment.read_text(encoding="utf-8"), str(args.experiment))
    check_tasks(settings["tasks"])
    for entry in entries:
        check_model(entry.model, entry.model_args, [])
        sweep.build_configs(entry.grids, entry.configs)


def check_python(arguments: list[str], earlier: list[str]) -> None:
    if arguments[:2] == ["-m", "parallelbench_lmeval.tiny_models"]:
        from parallelbench_lmeval.tiny_models import build_parser

        build_parser().parse_args(arguments[2:])
        return
    script = REPO / arguments[0]
    assert script.is_file() and script.parts[-2] in ("benchmarks", "tests"), f"{arguments[0]}: no such script"
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr


def check_pip(arguments: list[str]) -> None:
    assert arguments[0] == "install"
    for requirement in arguments[1:]:
        if requirement.startswith("-"):
            continue
        match = re.fullmatch(r"(\.|parallelbench-lmeval)(?:\[([\w,]+)\])?", requirement)
        if match:
            unknown = set((match.group(2) or "").split(",")) - {""} - extras()
            assert not unknown, f"unknown extra(s) {unknown}"
        else:
            assert requirement == "torch==2.13.0", f"unexpected requirement {requirement}"


def check_command(command: str, earlier: list[str]) -> None:
    words = shlex.split(command)
    while words and KNOWN_ENVIRONMENT.match(words[0]):
        words = words[1:]
    program, arguments = words[0], words[1:]
    if program == "lm_eval":
        check_lm_eval(arguments, earlier)
    elif program == "parallelbench":
        check_parallelbench(arguments, earlier)
    elif program == "python" and arguments[:2] == ["-m", "parallelbench_lmeval"]:
        check_lm_eval(arguments[2:], earlier)
    elif program == "python":
        check_python(arguments, earlier)
    elif program == "pip":
        check_pip(arguments)
    elif program == "bash":
        assert (REPO / arguments[0]).is_file(), f"{arguments[0]}: no such script"
        assert subprocess.run(["bash", "-n", str(REPO / arguments[0])]).returncode == 0
    elif program == "pytest":
        assert arguments == ["-q"]
    else:
        raise AssertionError(f"the documentation test does not know how to check {program!r}: teach it")


def test_the_documents_have_commands():
    documents = {document for document, *_ in COMMANDS}
    assert {"README.md", "docs/dllm.md", "docs/sweeps-and-reports.md", "docs/tasks.md"} <= documents


@pytest.mark.parametrize("document, block, command, earlier", COMMANDS,
                         ids=[f"{d}#{b}:{c[:60]}" for d, b, c, _ in COMMANDS])
def test_documented_command_is_valid(document, block, command, earlier):
    check_command(command, earlier)


@pytest.mark.parametrize("command, problem", [
    ("lm_eval --model dllm --model_args pretrained=GSAI-ML/LLaDA-1.5,k=2 --tasks parallelbench", "trust_remote_code"),
    ("lm_eval --model dllm --model_args pretrained=ideal,k=0 --tasks parallelbench", "k \\(tokens per step\\)"),
    ("lm_eval --model dllm --model_args pretrained=ideal --tasks parallelbench_shufle", "unknown task"),
    ("lm_eval --model dlm --model_args pretrained=ideal --tasks parallelbench", "dlm"),
    ("parallelbench sweep --model_args pretrained=ideal --tasks parallelbench --grid wino --config sampler=wino,k=2 "
     "--output_path x", "drop k/steps"),
    ("pip install .[tests]", "unknown extra"),
    ("lm_eval --model dllm --model_args pretrained=models/tiny --tasks parallelbench_copy", "no earlier command"),
    ("make all", "teach it"),
])
def test_the_checker_catches_broken_commands(command, problem):
    with pytest.raises((AssertionError, ValueError, KeyError, SystemExit), match=problem):
        check_command(command, [])


def test_the_quick_start_command_runs_as_written(tmp_path):
    """The README's first command after the installation, in a fresh folder."""
    quick_start = shell_blocks((REPO / "README.md").read_text(encoding="utf-8"))[0]
    assert quick_start[:2] == ["pip install torch==2.13.0", "pip install ."]
    words = shlex.split(quick_start[2])
    assert words[0] == "lm_eval"
    done = subprocess.run([sys.executable, "-m", "parallelbench_lmeval", *words[1:]], capture_output=True,
                          text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "parallelbench_waiting_line" in done.stdout and "pb_acc" in done.stdout
    assert list((tmp_path / "results" / "ideal_k2").rglob("results_*.json"))


def markdown_tables(text: str) -> list[list[list[str]]]:
    """Every table of a markdown text as rows of cells (code blocks skipped); a table ends at the first
    line that does not start with `|`."""
    tables, current = [], None
    for line in re.sub(r"```.*?```", "", text, flags=re.S).splitlines():
        if line.startswith("|"):
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            current = current if current is not None else []
            current.append(cells)
        elif current is not None:
            tables.append(current)
            current = None
    return tables + ([current] if current else [])


@pytest.mark.parametrize("path", DOCUMENTS, ids=[path.name for path in DOCUMENTS])
def test_every_table_has_its_header_and_one_width(path):
    """A blank line inside a table starts a new one without a header: its rows render as text."""
    for table in markdown_tables(path.read_text(encoding="utf-8")):
        assert len(table) >= 2 and all(re.fullmatch(r":?-+:?", cell) for cell in table[1]), (
            f"{path.name}: a table without a header row: {table[0]}")
        assert {len(row) for row in table} == {len(table[0])}, f"{path.name}: rows of different widths in {table[0]}"


def test_the_model_options_table_holds_every_model_option():
    from parallelbench_lmeval.models.settings import ModelSettings

    text = (REPO / "docs" / "dllm.md").read_text(encoding="utf-8")
    (table,) = [t for t in markdown_tables(text) if t[0] == ["option", "default", "meaning"]]
    documented = {name.strip("`") for row in table[2:] for name in row[0].split(", ")}
    fields = {f for f in ModelSettings.__dataclass_fields__} - {"decoding_defaults"}
    assert fields - documented <= {"seed", "suppress_eos"}  # in the decoding options table
    assert {"cache", "mc_num", "cfg_scale", "check_greedy"} <= documented


def test_the_example_sweep_writes_only_into_ignored_folders_by_default():
    """Run without arguments, examples/ideal_sweep.sh must not overwrite the committed examples/report/."""
    script = (REPO / "examples" / "ideal_sweep.sh").read_text(encoding="utf-8")
    defaults = re.findall(r"^\w+=\$\{[12]:-([^}]+)\}", script, flags=re.M)
    assert len(defaults) == 2, "the script's RESULTS and REPORT defaults"
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *defaults], cwd=REPO, capture_output=True, text=True)
    assert ignored.stdout.split() == defaults
