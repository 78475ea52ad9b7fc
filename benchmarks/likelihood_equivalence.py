"""Our Monte-Carlo log-likelihood against LLaDA's `get_log_likelihood.py`, on a tiny LLaDA.

    python benchmarks/tiny_checkpoints.py llada --code /work/refs/llada_hub --out /tmp/eq/llada
    python benchmarks/likelihood_equivalence.py /work/refs/ML-GSAI__LLaDA /tmp/eq/llada

REFERENCE_PATH is a checkout of ML-GSAI/LLaDA (or its get_log_likelihood.py); MODEL_DIR a LLaDA
checkpoint. Both estimators see the same (prompt, answer) ids, from our tokenization
(`likelihood_inputs`, as lm-eval's requests reach `dllm`).

1. Same draws: the reference draws its masks from torch's global RNG, ours from the generator
   given per request, in the same order (one count, then one permutation per row, per pass). Seeded
   alike, both mask the same tokens, and the estimates must agree to 1e-5 for every sample and
   setting: mini-batch smaller than, equal to and larger than the answer, one-token answers, and
   classifier-free guidance. (Only passes of a single row differ at all here, by float32 rounding
   of the pass's sum: ~1e-8 of estimates of -100 to -900, which the tiny model's sharp logits make.)
2. Convergence: with independent draws (different seeds), both estimates as mc_num grows, each with
   its standard error (the spread of the per-pass terms over sqrt(passes)); they must approach the
   same value. Exit status 1 if a same-draws difference exceeds the tolerance.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from equivalence.common import (Engine, add_threads_option, check_model_dir, import_file, load_hub_model, reference_file,
                               use_threads)
from parallelbench_lmeval.likelihood import log_likelihood, masked_copies, pass_term

TOLERANCE = 1e-5
# (context, continuation) as lm-eval sends them: answers of 1 to about 20 tokens
SAMPLES = (
    ("The capital of France is", " Paris"),
    ("Question: what is two plus two? Answer:", " four"),
    ("The cat sat on the", " warm stone near the garden wall"),
    ("List three colours:", " red, green and blue"),
    ("Translate to French: good morning. Answer:", " bonjour"),
    ("Once upon a time", " there was a small village by the sea where every morning the fishermen sang "
                         "old songs while they mended their nets"),
)
# (mc_num, mc_batch, cfg_scale) of the same-draws check
SETTINGS = ((8, 4, 0.0), (32, 16, 0.0), (16, 1, 0.0), (8, 8, 0.5))
SEEDS = (0, 1)
CONVERGENCE_SAMPLE = 2  # index into SAMPLES: a 6-token answer


def reference_module(reference: Path):
    file = reference_file(reference, "get_log_likelihood.py")
    if not file.is_file():
        raise SystemExit(f"{reference}: no get_log_likelihood.py (give ML-GSAI/LLaDA's folder or the file)")
    return import_file(file, "llada_reference_get_log_likelihood")


class Estimators:
    """Both estimators on one model folder: ours through the engine's backend, the reference on the
    folder's remote code."""

    def __init__(self, reference: Path, model_dir: Path):
        self.module = reference_module(reference)
        self.backend = Engine(model_dir).backend
        if self.backend.family != "llada":
            raise SystemExit(f"{model_dir} is a {self.backend.family} model; LLaDA's estimator needs a LLaDA")
        self.model = load_hub_model(model_dir)
        self.mask_id = self.backend.mask_id

    def ids(self, sample: tuple[str, str]) -> tuple[torch.Tensor, torch.Tensor]:
        prompt, answer, _ = self.backend.likelihood_inputs(*sample)  # LLaDA's tokens: nothing after the answer
        return torch.tensor(prompt), torch.tensor(answer)

    @torch.no_grad()
    def ours(self, sample, mc_num: int, mc_batch: int, cfg: float, seed: int) -> float:
        prompt, answer = self.ids(sample)
        generator = torch.Generator().manual_seed(seed)
        return log_likelihood(self.backend.logits_at, prompt, answer, mc_num, mc_batch, self.mask_id, generator, cfg)

    def reference(self, sample, mc_num: int, mc_batch: int, cfg: float, seed: int) -> float:
        prompt, answer = self.ids(sample)
        torch.manual_seed(seed)
        return self.module.get_log_likelihood(self.model, prompt, answer, mc_num=mc_num, batch_size=mc_batch,
                                              cfg_scale=cfg, mask_id=self.mask_id)

    @torch.no_grad()
    def our_terms(self, sample, passes: int, mc_batch: int, seed: int) -> list[float]:
        """Per-pass terms of our estimate (minus their mean is `log_likelihood`)."""
        prompt, answer = self.ids(sample)
        generator = torch.Generator().manual_seed(seed)
        terms = []
        for _ in range(passes):
            copies = masked_copies(prompt, answer, mc_batch, self.mask_id, generator)
            terms.append(pass_term(self.backend.logits_at(copies.ids, copies.positions), copies).item())
        return terms

    def reference_terms(self, sample, passes: int, mc_batch: int, seed: int) -> list[float]:
        """Per-pass terms of the reference: one pass per call, the global RNG running on between calls
        (so the terms are those of a single call with mc_num = passes * mc_batch)."""
        prompt, answer = self.ids(sample)
        torch.manual_seed(seed)
        return [-self.module.get_log_likelihood(self.model, prompt, answer, mc_num=mc_batch, batch_size=mc_batch,
                                                mask_id=self.mask_id) for _ in range(passes)]


def mean_and_error(terms: list[float]) -> tuple[float, float]:
    """The estimate (minus the mean term) and its standard error."""
    mean = sum(terms) / len(terms)
    variance = sum((t - mean) ** 2 for t in terms) / (len(terms) - 1)
    return -mean, math.sqrt(variance / len(terms))


def same_draws_table(estimators: Estimators) -> tuple[str, bool]:
    lines = ["| mc_num | mc_batch | cfg_scale | estimates (samples x seeds) | max abs difference | within 1e-5 |",
             "|---|---|---|---|---|---|"]
    passed = True
    for mc_num, mc_batch, cfg in SETTINGS:
        worst = max(abs(estimators.ours(s, mc_num, mc_batch, cfg, seed) - estimators.reference(s, mc_num, mc_batch, cfg, seed))
                    for s in SAMPLES for seed in SEEDS)
        passed &= worst <= TOLERANCE
        lines.append(f"| {mc_num} | {mc_batch} | {cfg:g} | {len(SAMPLES)} x {len(SEEDS)} | {worst:.2e} | "
                     f"{'yes' if worst <= TOLERANCE else 'NO'} |")
    return "\n".join(lines), passed


def convergence_table(estimators: Estimators, mc_nums: list[int], mc_batch: int) -> str:
    lines = ["| mc_num | ours (seed 0) | reference (seed 1) | difference / combined SE |", "|---|---|---|---|"]
    sample = SAMPLES[CONVERGENCE_SAMPLE]
    for mc_num in mc_nums:
        passes = mc_num // mc_batch
        ours, our_error = mean_and_error(estimators.our_terms(sample, passes, mc_batch, seed=0))
        theirs, their_error = mean_and_error(estimators.reference_terms(sample, passes, mc_batch, seed=1))
        z = (ours - theirs) / math.hypot(our_error, their_error)
        lines.append(f"| {mc_num} | {ours:.3f} ± {our_error:.3f} | {theirs:.3f} ± {their_error:.3f} | {z:+.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reference", type=Path, help="ML-GSAI/LLaDA's folder or its get_log_likelihood.py")
    parser.add_argument("model_dir", type=Path, help="a LLaDA checkpoint (benchmarks/tiny_checkpoints.py)")
    parser.add_argument("--mc-nums", type=int, nargs="+", default=[16, 64, 256, 1024],
                        help="mc_num values of the convergence table (default 16 64 256 1024)")
    parser.add_argument("--mc-batch", type=int, default=8, help="masked copies per pass in the convergence table")
    add_threads_option(parser)
    args = parser.parse_args(argv)
    use_threads(parser, args)
    if args.mc_batch < 1:
        parser.error(f"--mc-batch must be at least 1, got {args.mc_batch}")
    bad = [n for n in args.mc_nums if n < 2 * args.mc_batch or n % args.mc_batch]
    if bad:
        parser.error(f"--mc-nums {bad}: each must be a multiple of --mc-batch {args.mc_batch}, at least two passes")
    check_model_dir(parser, args.model_dir)

    estimators = Estimators(args.reference, args.model_dir)
    table, passed = same_draws_table(estimators)
    lengths = sorted(len(estimators.ids(sample)[1]) for sample in SAMPLES)
    print(f"Same draws (same seed), ours vs get_log_likelihood.py; answers of {lengths} tokens:\n")
    print(table)
    context, continuation = SAMPLES[CONVERGENCE_SAMPLE]
    answer_tokens = len(estimators.ids(SAMPLES[CONVERGENCE_SAMPLE])[1])
    print(f"\nIndependent draws for {context!r} + {continuation!r} ({answer_tokens} answer tokens), "
          f"mc_batch={args.mc_batch}; estimate ± standard error:\n")
    print(convergence_table(estimators, args.mc_nums, args.mc_batch))
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
