"""How close the `dllm` decoding loop runs to its physical floor, on a tiny model on the CPU.

Prints ratios measured in one run (this machine is shared and noisy, so only ratios
taken side by side mean anything):

(a) loop time over the time of the same forward passes run bare (same inputs, same
    NFE), at batch 1 and 8; the floor is given twice: forward passes that project only
    the current block onto the vocabulary (what dllm runs) and forward passes that
    project every position (what LLaDA's reference sampler runs);
(b) per-sample throughput at batch 8 over batch 1;
(c) throughput of dllm through lm-eval's request path (sorted, batched) over decoding
    the same prompts one request at a time with the same loop (the research scripts' way);
(d) NFE of top-k, threshold and factor configurations against their expected values.

Run: python benchmarks/decoding.py [--prompts 32] [--gen-length 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from parallelbench_lmeval.models.dllm import DiffusionLM
from parallelbench_lmeval.tiny_models import tiny_masked_lm


def make_prompts(count: int, seed: int = 0) -> list[str]:
    """`count` prompts of 20-60 words (about as many tokens) from a fixed word list."""
    rng = torch.Generator().manual_seed(seed)
    words = "alpha beta gamma delta river stone cloud paper lamp music table garden window ocean".split()
    lengths = torch.randint(20, 61, (count,), generator=rng).tolist()
    return [" ".join(words[i] for i in torch.randint(len(words), (n,), generator=rng).tolist()) for n in lengths]


def requests_for(prompts, gen_length, **gen_kwargs):
    return [SimpleNamespace(args=(p, {"until": [], "max_gen_toks": gen_length, **gen_kwargs})) for p in prompts]


class RecordingForward:
    """Wraps the model's denoising forward to record the inputs of every NFE."""

    def __init__(self, forward):
        self.forward, self.calls = forward, []

    def __call__(self, input_ids, attention_mask, positions):
        self.calls.append((input_ids.clone(), attention_mask.clone(), positions.clone()))
        return self.forward(input_ids, attention_mask, positions)


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


@torch.no_grad()
def bare_forward_seconds(forward, calls, windowed: bool) -> float:
    """The recorded forward passes again, with nothing else around them."""

    def run():
        for ids, mask, positions in calls:
            if windowed:
                forward(ids, mask, positions)
            else:
                forward.head.positions = None
                forward.model(ids, attention_mask=mask)

    return timed(run)


def loop_versus_floor(lm, prompts, gen_length, k, repeats):
    """(loop seconds, windowed floor seconds, full-logits floor seconds), medians over repeats."""
    recorder = RecordingForward(lm.backend.forward)
    lm.backend._forward = recorder
    loops, windowed, full = [], [], []
    for _ in range(repeats):
        recorder.calls.clear()
        loops.append(timed(lambda: lm.generate_until(requests_for(prompts, gen_length, k=k), disable_tqdm=True)))
        windowed.append(bare_forward_seconds(recorder.forward, recorder.calls, windowed=True))
        full.append(bare_forward_seconds(recorder.forward, recorder.calls, windowed=False))
    lm.backend._forward = recorder.forward
    return statistics.median(loops), statistics.median(windowed), statistics.median(full)


def one_request_at_a_time(lm, prompts, gen_length, k) -> float:
    return timed(lambda: [lm.generate_until(requests_for([p], gen_length, k=k), disable_tqdm=True) for p in prompts])


def expected_nfe_table(lm, prompts, gen_length) -> list[tuple[str, float, str]]:
    """Measured mean NFE for several configurations and what it must be."""
    rows = []
    for k in (1, 2, 4, 8):
        out = lm.generate_until(requests_for(prompts, gen_length, k=k), disable_tqdm=True)
        rows.append((f"top-k k={k}", statistics.mean(o.stats["nfe"] for o in out), f"{-(-gen_length // k)}"))
    out = lm.generate_until(requests_for(prompts, gen_length, unmasking="left_to_right", k=4), disable_tqdm=True)
    rows.append(("left_to_right k=4", statistics.mean(o.stats["nfe"] for o in out), f"{-(-gen_length // 4)}"))
    out = lm.generate_until(requests_for(prompts, gen_length, steps=5), disable_tqdm=True)
    rows.append(("steps=5", statistics.mean(o.stats["nfe"] for o in out), "5"))
    # a random tiny model is never confident: gamma=1 commits one token per step, tiny gamma all at once
    for label, options, expected in (
        ("threshold 1.0", {"threshold": 1.0}, f"{gen_length}"),
        ("threshold 1e-9", {"threshold": 1e-9}, "1"),
        ("threshold 1e-9, 4 blocks", {"threshold": 1e-9, "block_length": gen_length // 4}, "4"),
        ("factor 1e-6", {"factor": 1e-6}, f"{gen_length}"),
        ("factor 1e9", {"factor": 1e9}, "1"),
    ):
        out = lm.generate_until(requests_for(prompts, gen_length, **options), disable_tqdm=True)
        rows.append((label, statistics.mean(o.stats["nfe"] for o in out), expected))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--gen-length", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    prompts = make_prompts(args.prompts)
    with tempfile.TemporaryDirectory() as folder:
        model_dir = tiny_masked_lm(Path(folder) / "tiny")
        models = {b: DiffusionLM(pretrained=str(model_dir), device="cpu", batch_size=b) for b in (1, 8)}
        for lm in models.values():  # load weights and warm up outside the timings
            lm.generate_until(requests_for(prompts[:8], args.gen_length, k=8), disable_tqdm=True)

        print(f"tiny BertForMaskedLM (2 layers, width 64, vocab 30522), {args.prompts} prompts of 20-60 words, "
              f"gen_length {args.gen_length}, confidence, greedy, torch threads {torch.get_num_threads()}\n")
        print("(a) loop time / bare forward passes (same inputs, same NFE)")
        print(f"{'k':>3} {'batch':>5} {'ms/prompt':>10} {'loop/windowed floor':>20} {'loop/full-logits floor':>23}")
        per_sample = {}
        for k in (1, 4):
            for batch, lm in models.items():
                loop, windowed, full = loop_versus_floor(lm, prompts, args.gen_length, k, args.repeats)
                per_sample[(k, batch)] = loop / len(prompts)
                print(f"{k:>3} {batch:>5} {1000 * loop / len(prompts):>10.1f} {loop / windowed:>20.3f} {loop / full:>23.3f}")

        print("\n(b) per-sample throughput, batch 8 over batch 1")
        for k in (1, 4):
            print(f"  k={k}: {per_sample[(k, 1)] / per_sample[(k, 8)]:.2f}x")

        print("\n(c) dllm (lm-eval requests, sorted by length, batch 8) over one request at a time, same loop")
        for k in (1, 4):
            batched = timed(lambda k=k: models[8].generate_until(requests_for(prompts, args.gen_length, k=k), disable_tqdm=True))
            single = one_request_at_a_time(models[1], prompts, args.gen_length, k)
            print(f"  k={k}: {single / batched:.2f}x the throughput")

        print("\n(d) mean NFE per sample against the expected value")
        for label, measured, expected in expected_nfe_table(models[8], prompts, args.gen_length):
            print(f"  {label:<26} measured {measured:6.2f}   expected {expected}")


if __name__ == "__main__":
    main()
