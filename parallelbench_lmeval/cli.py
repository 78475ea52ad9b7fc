"""The `parallelbench` command: `eval` (lm-eval's CLI), `theory`, `sweep`, `report`, `run`, `submit`, `generate`.

A user error (a bad option, a missing file) prints one `error: ...` line and exits with status 2;
`--debug` anywhere on the command line (or `PARALLELBENCH_DEBUG=1`) shows its traceback instead.
"""

from __future__ import annotations

import importlib
import os
import sys

from parallelbench_lmeval.errors import DEBUG_ENV, USAGE_ERROR_STATUS, did_you_mean, run_command

DEBUG_FLAG = "--debug"

# subcommand -> (module with main(argv), one-line help)
SUBCOMMANDS = {
    "eval": ("parallelbench_lmeval.cli", "run lm-eval with dllm and the ParallelBench tasks registered (lm_eval's options)"),
    "theory": ("parallelbench_lmeval.theory.cli", "the paper's Section 4: closed forms next to the simulated ideal model"),
    "sweep": ("parallelbench_lmeval.report.sweep", "one model, a grid of decoding configurations, one results folder each"),
    "report": ("parallelbench_lmeval.report.cli", "tables, plots and leaderboard files from lm-eval results folders"),
    "run": ("parallelbench_lmeval.report.experiment", "several models (dllm grids, hf, API) on the same tasks, then one report"),
    "submit": ("parallelbench_lmeval.report.submit", "one model's leaderboard submission, checked complete"),
    "generate": ("parallelbench_lmeval.generate.cli", "items of any size as lm-eval tasks, or chat-format training data"),
}


def run_lm_eval(argv: list[str] | None = None) -> None:
    from lm_eval.__main__ import cli_evaluate

    from parallelbench_lmeval.registration import ensure_registered

    ensure_registered()
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    cli_evaluate()


def _usage() -> str:
    lines = ["usage: parallelbench [--debug] {" + ",".join(SUBCOMMANDS) + "} ...", ""]
    lines += [f"  {name:<8} {help_text}" for name, (_, help_text) in SUBCOMMANDS.items()]
    lines += ["", f"  {DEBUG_FLAG}  show the traceback of a user error (bad option, missing file) too"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = DEBUG_FLAG in argv
    if debug:
        argv.remove(DEBUG_FLAG)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in SUBCOMMANDS:
        print(f"error: unknown command {command!r}{did_you_mean(command, SUBCOMMANDS)}; "
              f"allowed: {', '.join(SUBCOMMANDS)}\n\n{_usage()}", file=sys.stderr)
        return USAGE_ERROR_STATUS
    if command == "eval":
        if debug:
            os.environ[DEBUG_ENV] = "1"  # read by the lm_eval hook (registration.check_model_args_early)
        run_lm_eval(rest)
        return 0
    module = importlib.import_module(SUBCOMMANDS[command][0])
    return run_command(module.main, rest, debug)


if __name__ == "__main__":
    sys.exit(main())
