"""Token identity of our decoding engine with a reference implementation, on a tiny checkpoint.

    python benchmarks/reference_equivalence.py REFERENCE_PATH MODEL_DIR [--prompts 10] [--methods ...] [--kind ...]
        [--batch-size N] [--controls]

REFERENCE_PATH is a checkout (or a file) of the reference implementation; the adapter whose
`detect` recognises its files (or the one `--kind` names) lists the cases that reference
covers. MODEL_DIR is a model folder built by `benchmarks/tiny_checkpoints.py` from the
reference's model code. Every case decodes the same prompts with the reference (one prompt
at a time, or all in one batch where the case says so) and with our engine (all prompts in one batch, or in batches of `--batch-size`),
and the script prints a markdown
table: how many prompts gave identical generated ids and identical NFE. Exit status 1 on any
mismatch. `--methods` keeps the cases whose method contains one of the given words.

The adapters (`benchmarks/equivalence/`, one per reference) say in their docstrings what they
run and every deliberate difference. Examples, with checkpoints from benchmarks/tiny_checkpoints.py:

    # ML-GSAI/LLaDA generate.py, on a LLaDA built from the hub code
    python benchmarks/reference_equivalence.py /work/refs/ML-GSAI__LLaDA /tmp/eq/llada
    # NVlabs/Fast-dLLM llada/generate.py (threshold, prefix and dual caches), on its own model code
    python benchmarks/reference_equivalence.py /work/refs/NVlabs__Fast-dLLM /tmp/eq/fast_dllm
    # NVlabs/Fast-dLLM v2/generation_functions.py (Fast-dLLM v2's batch_sample), on the hub's model code
    python benchmarks/reference_equivalence.py /work/refs/NVlabs__Fast-dLLM/v2 /tmp/eq/fast_dllm_v2 --controls
    # a folder of hub remote code: our caches against our uncached decoding (a self-check), and
    # for Dream the hub's own diffusion_generate where it is our algorithm
    python benchmarks/reference_equivalence.py /work/refs/llada_hub /tmp/eq/llada
    python benchmarks/reference_equivalence.py /work/refs/dream_hub /tmp/eq/dream
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

import equivalence
from equivalence.common import CaseRunner, add_threads_option, check_model_dir, format_table, make_prompts, use_threads


def adapters() -> dict:
    """Every adapter module of the `equivalence` package, by name."""
    return {
        info.name: importlib.import_module(f"equivalence.{info.name}")
        for info in pkgutil.iter_modules(equivalence.__path__)
        if info.name != "common"
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reference", type=Path, help="the reference implementation's folder (or file)")
    parser.add_argument("model_dir", type=Path, help="a tiny checkpoint built from the reference's model code")
    parser.add_argument("--prompts", type=int, default=10, help="prompts per case (default 10)")
    parser.add_argument("--methods", nargs="+", help="keep only cases whose method contains one of these words")
    parser.add_argument("--kind", help="the adapter to use, instead of detecting it from the reference's files")
    parser.add_argument("--controls", action="store_true",
                        help="also run each case's negative control (e.g. without compat) and print how many prompts "
                             "it leaves identical: a setting whose control also matches does not reach the difference")
    parser.add_argument("--batch-size", type=int,
                        help="our engine decodes the prompts in batches of this size (default: all in one batch)")
    add_threads_option(parser)
    args = parser.parse_args(argv)
    use_threads(parser, args)

    available = adapters()
    if args.kind is not None and args.kind not in available:
        parser.error(f"unknown --kind {args.kind!r}; allowed: {', '.join(sorted(available))}")
    if not args.reference.exists():
        parser.error(f"no such reference path: {args.reference}")
    check_model_dir(parser, args.model_dir)
    if args.prompts < 1:
        parser.error(f"--prompts must be at least 1, got {args.prompts}")
    if args.batch_size is not None and args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.kind is None:
        matching = [name for name, adapter in available.items() if adapter.detect(args.reference)]
        if len(matching) != 1:
            found = ", ".join(matching) or "none"
            parser.error(f"cannot tell which reference {args.reference} is (matching adapters: {found}); "
                         f"give --kind, one of {', '.join(sorted(available))}")
        args.kind = matching[0]

    try:
        cases = available[args.kind].cases(args.reference, args.model_dir)
    except ValueError as error:  # the reference and the model folder do not go together
        parser.error(str(error))
    if args.methods:
        cases = [case for case in cases if any(word in case.method for word in args.methods)]
        if not cases:
            parser.error(f"no case of {args.kind} matches --methods {' '.join(args.methods)}")

    import transformers

    prompts = make_prompts(transformers.AutoTokenizer.from_pretrained(args.model_dir), args.prompts)
    runner = CaseRunner(args.model_dir, prompts, args.batch_size)
    rows = []
    for case in cases:
        row = runner.run(case)
        rows.append(row)
        status = "ok" if row.passed else f"MISMATCH ({row.first_difference})"
        print(f"{case.method} [{case.setting}]: {status}", file=sys.stderr, flush=True)
    print(format_table(rows))
    if args.controls:
        controls = [runner.run(case.control_case()) for case in cases if case.control is not None]
        print("\nNegative controls (a setting's difference is reached where fewer prompts match):\n")
        print(format_table(controls))
    return 0 if all(row.passed for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
