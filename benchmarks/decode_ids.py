"""The token ids and NFE our engine decodes for the equivalence prompts, as JSON: to compare two
versions of the engine on the same settings (run it with each checkout first on PYTHONPATH).

    PYTHONPATH=OLD_CHECKOUT python benchmarks/decode_ids.py /tmp/eq/fast_dllm --options '[{"factor": 1.0}]' > old.json
    PYTHONPATH=NEW_CHECKOUT python benchmarks/decode_ids.py /tmp/eq/fast_dllm --options '[{"factor": 1.0}]' > new.json
    cmp old.json new.json

MODEL_DIR is a checkpoint of `benchmarks/tiny_checkpoints.py`; `--options` a JSON list of decoding
option sets (as `--gen_kwargs` takes them), each decoded with gen_length 32 for the prompts of
`reference_equivalence.py` (the same prompts and seeds), all in one batch or in batches of
`--batch-size`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from equivalence.common import GEN_LENGTH, add_threads_option, check_model_dir, make_prompts, prompt_seed, use_threads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", type=Path, help="a tiny checkpoint built by benchmarks/tiny_checkpoints.py")
    parser.add_argument("--options", required=True, help="a JSON list of decoding option sets")
    parser.add_argument("--prompts", type=int, default=10, help="prompts per setting (default 10)")
    parser.add_argument("--batch-size", type=int, help="prompts decoded together (default: all in one batch)")
    add_threads_option(parser)
    args = parser.parse_args(argv)
    if args.batch_size is not None and args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1, got {args.batch_size}")
    use_threads(parser, args)
    check_model_dir(parser, args.model_dir)
    try:
        settings = json.loads(args.options)
    except json.JSONDecodeError as error:
        parser.error(f"--options is not JSON: {error}")
    if not isinstance(settings, list) or not all(isinstance(s, dict) for s in settings):
        parser.error("--options must be a JSON list of objects, e.g. '[{\"factor\": 1.0}]'")

    import transformers

    from parallelbench_lmeval.models.dllm import DiffusionLM

    lm = DiffusionLM(pretrained=str(args.model_dir), trust_remote_code=True, dtype="float32", device="cpu")
    prompts = make_prompts(transformers.AutoTokenizer.from_pretrained(args.model_dir), args.prompts)
    decoded = {}
    for options in settings:
        config, _, _ = lm.request_config({**options, "max_gen_toks": GEN_LENGTH})
        size = args.batch_size or len(prompts)
        tokens, nfe = [], []
        for start in range(0, len(prompts), size):
            generators = [torch.Generator().manual_seed(prompt_seed(i)) for i in range(start, min(start + size, len(prompts)))]
            with torch.no_grad():
                result = lm.backend.decode(prompts[start : start + size], config, generators)
            tokens += result.tokens.tolist()
            nfe += result.nfe.tolist()
        decoded[json.dumps(options, sort_keys=True)] = {"tokens": tokens, "nfe": nfe}
    json.dump(decoded, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
