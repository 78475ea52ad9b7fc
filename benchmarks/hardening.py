"""What bad model output and a killed sweep do, measured: the two tables of docs/hardening.md.

outputs  Every ParallelBench task (the 17 of the `parallelbench` group, loaded through lm-eval's
         TaskManager) scores a fixed, named set of adversarial outputs (empty, blanks, 1 MB of one
         character, brackets nested 100,000 deep, control characters, the gold answer 1,000 times,
         ...) plus seeded random strings built from the item's own gold answer, structure
         characters and random code points, through the task's real `process_results`, in this
         process, as lm-eval calls it at scoring time. Per task: outputs tried, how many scored 0
         or above 0 (on `score`, the released metric), raised (any BaseException, traceback
         printed), had their grammar check fail (the checker worker died, hung or raised: scored 0,
         logged), took longer than TIME_BOUND_S, and whether every score is a float in [0, 1].
         Text Writing runs with the offline scorers (PARALLELBENCH_SCORERS=offline: Harper and the
         packaged MiniLM) since LanguageTool needs Java and network, and with a quarter of the
         random outputs (Harper and BERTScore are slower). An output still scoring after
         HANG_LIMIT_S ends the script with its name and every thread's stack (exit status 3).
resume   A real `parallelbench sweep` subprocess (ideal model, the ten Waiting Line tasks, a
         six-configuration top-k grid) SIGKILLed once two configurations finished, then rerun with
         the same command; against an uninterrupted sweep of the same grid into another folder.
         Reports what finished before the kill, what the rerun recomputed (must be the rest), the
         `.partial-*` folders left, whether `parallelbench report` over the folder lists every
         configuration and task exactly once, and whether every configuration's metrics and
         outputs equal the uninterrupted sweep's (decode wall time aside).

Prints the tables as markdown; exits 1 if an output raised, had its check fail, breached the time
bound or scored outside [0, 1], or if the resume check fails.

Run: python benchmarks/hardening.py [--section outputs|resume] [--random-outputs 200]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import faulthandler
import json
import logging
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from parallelbench_lmeval.report.runs import PARTIAL_PREFIX
from parallelbench_lmeval.report.sweep import DONE_MARKER, build_configs, config_name
from parallelbench_lmeval.scoring import grammar
from parallelbench_lmeval.scoring.scorers import SCORERS_ENV
from parallelbench_lmeval.scoring.text import BERTSCORE_LAYERS_ENV, BERTSCORE_MODEL_ENV

SECTIONS = ("outputs", "resume")
MEGABYTE = 1_000_000
SEED = 0
TIME_BOUND_S = 10.0  # an output scores in well under a second; more is a finding
# past the grammar check's own 60 s timeout: only scoring outside the checker can get here
HANG_LIMIT_S = 300.0
TEXT_WRITING_RANDOM_SHARE = 4  # Text Writing gets 1/4 of the random outputs: Harper and BERTScore are slower
# structure characters the list and puzzle parsers look for
STRUCTURE = ["[", "]", '"', "'", ",", ", ", " ", "\n", "{", "}", ":", "|", "\\n"]

RESUME_TASKS = "parallelbench_waiting_line"
RESUME_LIMIT = 10
RESUME_UNMASKING = ("random", "confidence")
RESUME_K_VALUES = (1, 2, 4)
FINISHED_BEFORE_KILL = 2
WALL_TIME_METRICS = ("decode_seconds",)  # differs between any two runs: not part of "equal results"


# ------------------------------------------------------------------ outputs
def use_offline_scorers() -> None:
    """Harper and the packaged MiniLM, with no finer setting overriding them (LanguageTool needs Java and network)."""
    os.environ[SCORERS_ENV] = "offline"
    for name in (grammar.GRAMMAR_ENV, grammar.LANGUAGETOOL_URL_ENV, BERTSCORE_MODEL_ENV, BERTSCORE_LAYERS_ENV):
        os.environ.pop(name, None)
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")


def random_character(rng: random.Random) -> str:
    """Printable ASCII, control characters (NUL included) or any other scalar value; no lone
    surrogates: a tokenizer's decoded text is valid Unicode."""
    roll = rng.random()
    if roll < 0.5:
        return chr(rng.randint(0x20, 0x7E))
    if roll < 0.7:
        return chr(rng.randint(0x00, 0x1F))
    code = rng.randint(0x7F, 0x10FFFF - 0x800)
    return chr(code + 0x800 if code >= 0xD800 else code)


def random_output(rng: random.Random, gold: str) -> str:
    """Half the time pieces of the gold answer and structure characters in random order, else random characters."""
    if rng.random() < 0.5:
        pieces = re.findall(r"\w+|\W", gold) + STRUCTURE
        return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 80)))
    return "".join(random_character(rng) for _ in range(rng.randint(0, 300)))


def named_outputs(gold: str) -> dict[str, str]:
    """The fixed adversarial outputs for an item with gold answer `gold` (the last one, the gold itself, is the control)."""
    rng = random.Random(SEED)
    return {
        "empty": "",
        "whitespace only": " \t" * 500,
        "newlines only (10,000)": "\n" * 10_000,
        "`a` x 100,000 on one line": "a" * 100_000,
        "`a` x 1 MB": "a" * MEGABYTE,
        "`[` x 1 MB": "[" * MEGABYTE,
        "brackets nested 100,000 deep": "[" * 100_000 + "]" * 100_000,
        "broken JSON": '{"answer": ["Billy Ramos", "Alan Wells",, ]',
        # under the 2,000 characters that reach the grammar checker: Harper alone passes each of them
        "`[` x 1,999": "[" * 1_999,
        "NUL x 1,999": "\x00" * 1_999,
        "zero-width spaces x 1,999": "\u200b" * 1_999,
        "right-to-left marks x 1,999": "\u200f" * 1_999,
        "emoji x 999": "\U0001F600" * 999,
        "gold cut in the middle": gold[: len(gold) // 2],
        "control characters and NUL": "".join(map(chr, range(0x20))) * 100 + "\x7f\x00",
        "random unicode (5,000, seeded)": "".join(random_character(rng) for _ in range(5_000)),
        "gold x 1,000 (newline-separated)": "\n".join([gold] * 1_000),
        "list of 100,000 names": "[" + ", ".join(f'"Person {i}"' for i in range(100_000)) + "]",
        "gold (control)": gold,
    }


@dataclass
class TaskOutcome:
    task: str
    tried: int = 0
    scored_zero: int = 0
    scored_above_zero: int = 0
    raised: list[tuple[str, str]] = field(default_factory=list)  # (output, traceback)
    check_failed: list[str] = field(default_factory=list)
    over_time_bound: list[str] = field(default_factory=list)
    out_of_range: list[tuple[str, dict]] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")
    named_above_zero: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.raised or self.check_failed or self.over_time_bound or self.out_of_range)


class CheckFailures(logging.Handler):
    """Counts grammar.py's "check failed on one output (scored 0)" warnings: a checker worker that died, hung or raised."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "grammar check failed on one output" in record.getMessage():
            self.count += 1


def end_on_hang(task: str, label: str) -> None:
    """Nothing in the process can interrupt native code: name the output, show the stacks, end the process."""
    print(f"\n{task}: output {label!r} is still scoring after {HANG_LIMIT_S:.0f} s; ending the benchmark", file=sys.stderr)
    faulthandler.dump_traceback(all_threads=True)
    os._exit(3)


def score_output(task, doc: dict, output: str, label: str) -> tuple[dict | None, str | None, float]:
    """`process_results` as lm-eval calls it: (scores, None, seconds), or (None, traceback, seconds) if it raised."""
    watchdog = threading.Timer(HANG_LIMIT_S, end_on_hang, (task.config.task, label))
    watchdog.daemon = True
    watchdog.start()
    start = time.perf_counter()
    try:
        scores = task.process_results(doc, [output])
        return scores, None, time.perf_counter() - start
    except KeyboardInterrupt:  # Ctrl-C stops the benchmark; anything else raised is a finding
        raise
    except BaseException:
        return None, traceback.format_exc(), time.perf_counter() - start
    finally:
        watchdog.cancel()


def in_unit_interval(scores: dict) -> bool:
    return all(isinstance(value, float) and 0.0 <= value <= 1.0 for value in scores.values())  # NaN fails both


def task_outcome(name: str, task, random_count: int, check_failures: CheckFailures) -> TaskOutcome:
    docs = task.test_docs()
    text_writing = (task.config.dataset_kwargs or {}).get("scored_with") is not None
    outcome = TaskOutcome(name)
    rng = random.Random(f"{name}/{SEED}")  # str seeds are stable across processes (hash() is not)
    count = random_count // TEXT_WRITING_RANDOM_SHARE if text_writing else random_count
    cases = [(label, docs[0], output, True) for label, output in named_outputs(docs[0]["answer"]).items()]
    random_docs = [docs[i % len(docs)] for i in range(count)]
    cases += [(f"random #{i}", doc, random_output(rng, doc["answer"]), False) for i, doc in enumerate(random_docs)]
    for label, doc, output, named in cases:
        failures_before = check_failures.count
        scores, error, seconds = score_output(task, doc, output, label)
        outcome.tried += 1
        outcome.slowest = max(outcome.slowest, (seconds, label))
        if seconds > TIME_BOUND_S:
            outcome.over_time_bound.append(label)
        if check_failures.count > failures_before:
            outcome.check_failed.append(label)
        if error is not None:
            outcome.raised.append((label, error))
            continue
        if not in_unit_interval(scores):
            outcome.out_of_range.append((label, scores))
        if scores.get("score", 0.0) > 0.0:
            outcome.scored_above_zero += 1
            if named:
                outcome.named_above_zero.append(label)
        else:
            outcome.scored_zero += 1
    return outcome


def outputs_table(outcomes: list[TaskOutcome], random_count: int) -> str:
    named = len(named_outputs(""))
    lines = [
        "### Adversarial outputs per task",
        "",
        f"Each task's `process_results` (what lm-eval calls at scoring time, run in-process) on {named} named outputs "
        f"(on item 0) and seeded random strings (on the first items: {random_count} per task, "
        f"{random_count // TEXT_WRITING_RANDOM_SHARE} for Text Writing, whose scorers are slower). Text Writing is scored with the offline scorers "
        f"(`{SCORERS_ENV}=offline`: Harper and the packaged all-MiniLM-L6-v2), since LanguageTool needs Java and "
        "network. \"Scored\" counts `score`, the released metric; \"check failed\": the grammar checker's worker "
        f"died, hung or raised (scored 0, logged); the time bound is {TIME_BOUND_S:g} s per output.",
        "",
        "| task | outputs | scored 0 | scored in (0, 1] | raised | check failed | over the time bound "
        "| slowest output (s) | every score in [0, 1] | named outputs scoring above 0 |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for o in outcomes:
        seconds, label = o.slowest
        lines.append(
            f"| `{o.task}` | {o.tried} | {o.scored_zero} | {o.scored_above_zero} | {len(o.raised)} | {len(o.check_failed)} "
            f"| {len(o.over_time_bound)} | {seconds:.2f} ({label}) | {'no' if o.out_of_range else 'yes'} "
            f"| {', '.join(o.named_above_zero) or '—'} |"
        )
    return "\n".join(lines)


def report_findings(outcomes: list[TaskOutcome]) -> None:
    """Every raise (with its traceback), failed check, slow output and out-of-range score, on stderr."""
    for o in outcomes:
        for label, error in o.raised:
            print(f"\n{o.task}: output {label!r} raised:\n{error}", file=sys.stderr)
        for label in o.check_failed:
            print(f"{o.task}: the grammar check failed on output {label!r}", file=sys.stderr)
        for label in o.over_time_bound:
            print(f"{o.task}: output {label!r} took more than {TIME_BOUND_S:g} s", file=sys.stderr)
        for label, scores in o.out_of_range:
            print(f"{o.task}: output {label!r} scored outside [0, 1]: {scores}", file=sys.stderr)


def run_outputs(random_count: int) -> bool:
    from lm_eval.tasks import TaskManager

    use_offline_scorers()
    tasks = TaskManager().load(["parallelbench"])["tasks"]
    check_failures = CheckFailures()
    logging.getLogger(grammar.__name__).addHandler(check_failures)
    outcomes = [task_outcome(name, task, random_count, check_failures) for name, task in tasks.items()]
    print(outputs_table(outcomes, random_count) + "\n")
    report_findings(outcomes)
    return not any(o.failed for o in outcomes)


# ------------------------------------------------------------------ resume
def sweep_command(output: Path) -> list[str]:
    return [
        sys.executable, "-m", "parallelbench_lmeval.cli", "sweep", "--model", "dllm", "--model_args", "pretrained=ideal",
        "--tasks", RESUME_TASKS, "--limit", str(RESUME_LIMIT), "--bootstrap_iters", "0", "--grid", "topk",
        "--unmasking", ",".join(RESUME_UNMASKING), "--k_values", ",".join(map(str, RESUME_K_VALUES)),
        "--output_path", str(output), "--log_samples",  # the outputs, compared below
    ]


def run_checked(command: list[str], env: dict) -> None:
    """Runs a command to completion; a failure raises with the end of its stderr."""
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[2:5])} ... exited with {done.returncode}:\n{done.stderr[-3000:]}")


def kill_after_finishing(output: Path, count: int, env: dict) -> None:
    """Starts the sweep and SIGKILLs it as soon as `count` configurations have finished."""
    process = subprocess.Popen(sweep_command(output), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 600
    while len(finished(output)) < count and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()


def finished(output: Path) -> set[str]:
    return {marker.parent.name for marker in output.glob(f"*/{DONE_MARKER}")}


def partial_folders(output: Path) -> set[str]:
    return {path.name for path in output.glob(f"{PARTIAL_PREFIX}*")}


def results_written(output: Path) -> dict[Path, int]:
    """Every finished configuration's results file and its modification time (ns)."""
    return {path: path.stat().st_mtime_ns for path in output.glob("*/*/results_*.json")}


def configuration_results(folder: Path) -> tuple[dict, dict]:
    """({task or group: metrics without wall time}, {task: {doc_id: outputs}}) of one configuration folder."""
    (results_file,) = folder.glob("*/results_*.json")
    results = json.loads(results_file.read_text(encoding="utf-8"))
    metrics = {name: {key: value for key, value in values.items()
                      if "," in key and "_stderr," not in key and key.split(",")[0] not in WALL_TIME_METRICS}
               for name, values in results["results"].items()}
    outputs = {}
    for task in results["configs"]:
        (samples_file,) = results_file.parent.glob(f"samples_{task}_*.jsonl")
        rows = map(json.loads, samples_file.read_text(encoding="utf-8").splitlines())
        outputs[task] = {row["doc_id"]: row["filtered_resps"] for row in rows}
    return metrics, outputs


def report_rows(sweep_folder: Path, report_folder: Path, env: dict) -> Counter:
    """((strategy, configuration), task) -> rows in the tasks.csv that `parallelbench report` writes over the folder
    (a configuration's label leaves its strategy out: `k=2`)."""
    run_checked([sys.executable, "-m", "parallelbench_lmeval.cli", "report", str(sweep_folder), "--out", str(report_folder),
                 "--no_plots"], env)
    with open(report_folder / "tasks.csv", encoding="utf-8") as handle:
        return Counter(((row["strategy"], row["config"]), row["task"]) for row in csv.DictReader(handle))


@dataclass
class ResumeRun:
    grid: list[str]
    finished_before_kill: set[str]
    partial_at_kill: set[str]
    recomputed: set[str]
    partial_after_rerun: set[str]
    report_rows: Counter
    differing: list[str]  # configurations whose results differ from the uninterrupted sweep's

    @property
    def unfinished_at_kill(self) -> set[str]:
        return set(self.grid) - self.finished_before_kill

    @property
    def report_configurations(self) -> set:
        return {config for config, _ in self.report_rows}

    @property
    def report_tasks(self) -> set[str]:
        return {task for _, task in self.report_rows}

    @property
    def report_lists_each_once(self) -> bool:
        return (len(self.report_configurations) == len(self.grid) and set(self.report_rows.values()) == {1}
                and len(self.report_rows) == len(self.grid) * len(self.report_tasks))

    def failed_checks(self) -> list[str]:
        checks = {
            "killed midway": bool(self.finished_before_kill) and bool(self.unfinished_at_kill),
            "the rerun recomputed exactly the unfinished configurations": self.recomputed == self.unfinished_at_kill,
            "no .partial folder left": not self.partial_after_rerun,
            "the report lists each configuration and task once": self.report_lists_each_once,
            "results equal the uninterrupted sweep's": not self.differing,
        }
        return [name for name, ok in checks.items() if not ok]


def resume_run() -> ResumeRun:
    grid = [config_name(options) for options in
            build_configs(["topk"], [], unmasking=RESUME_UNMASKING, k_values=RESUME_K_VALUES)]
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory(prefix="hardening-resume-") as scratch:
        killed, uninterrupted = Path(scratch) / "killed", Path(scratch) / "uninterrupted"
        kill_after_finishing(killed, FINISHED_BEFORE_KILL, env)
        finished_before_kill, partial_at_kill = finished(killed), partial_folders(killed)
        written_before = results_written(killed)
        run_checked(sweep_command(killed), env)
        recomputed = {path.parent.parent.name for path, mtime in results_written(killed).items()
                      if written_before.get(path) != mtime}
        rows = report_rows(killed, Path(scratch) / "report", env)
        run_checked(sweep_command(uninterrupted), env)
        differing = [name for name in grid if configuration_results(killed / name) != configuration_results(uninterrupted / name)]
        return ResumeRun(grid, finished_before_kill, partial_at_kill, recomputed, partial_folders(killed), rows, differing)


def names(values: list[str]) -> str:
    return f"{len(values)}: " + (", ".join(f"`{value}`" for value in values) or "none")


def resume_table(run: ResumeRun) -> str:
    unfinished = run.unfinished_at_kill
    return "\n".join([
        "### Killed-sweep resume",
        "",
        f"`parallelbench {shlex.join(sweep_command(Path('OUT'))[3:])}` as a subprocess, SIGKILLed once "
        f"{FINISHED_BEFORE_KILL} configurations had finished, then rerun with the same command; compared with the "
        "same sweep run uninterrupted into another folder.",
        "",
        "| | |",
        "|---|---|",
        f"| configurations in the grid, in the order run | {names(run.grid)} |",
        f"| finished before the kill | {names(sorted(run.finished_before_kill))} |",
        f"| `.partial-*` folders at the kill | {names(sorted(run.partial_at_kill))} |",
        f"| recomputed by the rerun | {names(sorted(run.recomputed))} "
        f"({'exactly' if run.recomputed == unfinished else 'NOT'} the {len(unfinished)} unfinished) |",
        f"| `.partial-*` folders after the rerun | {names(sorted(run.partial_after_rerun))} |",
        f"| `parallelbench report` over the folder | {len(run.report_configurations)} configurations × "
        f"{len(run.report_tasks)} tasks, {'each' if run.report_lists_each_once else 'NOT each'} listed exactly once |",
        "| metrics and outputs equal to the uninterrupted sweep's (decode wall time aside) | "
        + (f"all {len(run.grid)} configurations |" if not run.differing else f"NOT for {names(run.differing)} |"),
    ])


def run_resume() -> bool:
    run = resume_run()
    print(resume_table(run) + "\n")
    failed = run.failed_checks()
    if failed:
        print(f"resume check failed: {'; '.join(failed)}", file=sys.stderr)
    return not failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--section", choices=SECTIONS, help="one section only (default: both)")
    parser.add_argument("--random-outputs", type=int, default=200, metavar="N",
                        help=f"seeded random outputs per task (Text Writing: N/{TEXT_WRITING_RANDOM_SHARE}; default 200)")
    args = parser.parse_args(argv)
    if args.random_outputs < 0:
        parser.error(f"--random-outputs must be 0 or more, got {args.random_outputs}")
    print(f"Measured {datetime.date.today()} with {len(os.sched_getaffinity(0))} CPU cores available.\n")
    ok = True
    if args.section in (None, "outputs"):
        ok &= run_outputs(args.random_outputs)
    if args.section in (None, "resume"):
        ok &= run_resume()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
