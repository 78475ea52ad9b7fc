"""What recording the decoding order costs (`parallelbench_lmeval/decoding/order.py`), on the CPU.

Prints ratios measured in one run, side by side (this machine is shared and noisy):

record    the unmasking loop with `CommitSteps.record` over the same loop with `record` replaced by a
          no-op, interleaved repeats, the fastest of each (the least disturbed by other work). The denoiser costs nothing (it returns precomputed
          logits, vocabulary 64), so the loop's own tensor work is all there is to compare with:
          the ratio bounds from above what recording adds to any real model's decoding.
metrics   `order_metrics` (once per batch, after decoding: Kendall and Spearman, with and without
          padding) over decoding that batch with the tiny LLaDA stand-in
          (`tiny_models.tiny_llada_standin`), confidence, k=1, and that decoding with `record` over
          the same with a no-op record (fastest of the repeats).

Run: python benchmarks/decoding_order.py [--repeats 31] [--batch 8] [--gen-length 64]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from parallelbench_lmeval.decoding import DecodingConfig, unmask
from parallelbench_lmeval.decoding import order as order_module
from parallelbench_lmeval.decoding.order import order_metrics

VOCAB = 64
STANDIN_REPEATS = 5  # a decoding of the stand-in takes seconds
CONFIGURATIONS = [
    ("confidence k=1", {}),
    ("confidence k=4", {"k": 4}),
    ("threshold 0.9, block 16", {"threshold": 0.9, "block_length": 16}),
    ("rcr k=1", {"sampler": "rcr"}),
    ("wino, block 16", {"sampler": "wino", "block_length": 16}),
]


def free_denoiser(batch: int, gen_length: int, seed: int = 0):
    """Precomputed logits [B, G, V + 1] (the last id is the mask), gathered at the query."""
    logits = torch.randn(batch, gen_length, VOCAB + 1, generator=torch.Generator().manual_seed(seed)) * 3

    def denoise(canvas, rows, query):
        values = logits[rows].gather(1, query.positions.unsqueeze(-1).expand(-1, -1, VOCAB + 1))
        if query.mirror:
            values = torch.cat([values, logits[rows, query.block.start : query.block.end]], dim=1)
        return values.clone()

    return denoise


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def record_section(batch: int, gen_length: int, repeats: int) -> None:
    print(f"[record] loop with recording / loop with a no-op record; free denoiser, batch {batch}, "
          f"gen_length {gen_length}, vocabulary {VOCAB}, fastest of {repeats} interleaved repeats")
    print(f"{'configuration':<26} {'NFE':>5} {'ms with':>9} {'ms without':>11} {'ratio':>7}")
    denoise = free_denoiser(batch, gen_length)
    for label, options in CONFIGURATIONS:
        config = DecodingConfig.from_options(gen_length=gen_length, **options)

        def run():
            return unmask(denoise, batch, config, VOCAB)

        nfe = run().nfe.float().mean().item()  # warm-up
        on, off = with_and_without_record(run, repeats)
        print(f"{label:<26} {nfe:>5.1f} {1000 * on:>9.2f} {1000 * off:>11.2f} {on / off:>7.3f}")
    print()


def with_and_without_record(run, repeats: int) -> tuple[float, float]:
    """Fastest seconds of `run` with the real `CommitSteps.record` and with a no-op, interleaved."""
    real_record = order_module.CommitSteps.record
    with_record, without_record = [], []
    for _ in range(repeats):
        with_record.append(timed(run))
        order_module.CommitSteps.record = lambda *args: None
        try:
            without_record.append(timed(run))
        finally:
            order_module.CommitSteps.record = real_record
    return min(with_record), min(without_record)


def metrics_section(batch: int, gen_length: int, repeats: int) -> None:
    from parallelbench_lmeval.models.dllm import DiffusionLM
    from parallelbench_lmeval.tiny_models import tiny_llada_standin

    with tempfile.TemporaryDirectory() as folder:
        lm = DiffusionLM(pretrained=str(tiny_llada_standin(Path(folder) / "llada")), device="cpu", batch_size=batch,
                         trust_remote_code=True)
        backend = lm.backend
        config = DecodingConfig.from_options(gen_length=gen_length)
        prompts = [backend.encode(f"Write the list {' '.join(map(str, range(i + 5)))} backwards.", gen_length)
                   for i in range(batch)]
        result = backend.decode(prompts, config)  # loads the weights, warms up
        metrics = min(timed(lambda: order_metrics(result.commit_steps, result.tokens, backend.ids.pad_id))
                      for _ in range(repeats))
        on, off = with_and_without_record(lambda: backend.decode(prompts, config), STANDIN_REPEATS)
    print(f"[metrics] tiny LLaDA stand-in, batch {batch}, gen_length {gen_length}, confidence k=1 "
          f"(fastest of {repeats} and of {STANDIN_REPEATS} interleaved repeats)")
    print(f"  order_metrics {1000 * metrics:.2f} ms / decoding {1000 * off:.1f} ms: {metrics / off:.5f}")
    print(f"  decoding with record {1000 * on:.1f} ms / with a no-op record {1000 * off:.1f} ms: {on / off:.4f}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=31)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--gen-length", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread\n")
    record_section(args.batch, args.gen_length, args.repeats)
    metrics_section(args.batch, args.gen_length, args.repeats)


if __name__ == "__main__":
    main()
