"""How fast the `dllm` engine decodes, on small random-weight models on the CPU.

Prints ratios measured in one run (this machine is shared and noisy, so only ratios taken
side by side mean anything), with the machine's load average next to them. Sections
(`--sections`, default floor,samplers,cache,blocks,sweep):

floor     the loop against its physical floor (tiny BertForMaskedLM, the regime of PERFORMANCE.md):
          (a) loop time over the same forward passes run bare (same inputs, same NFE), at batch 1
          and 8, the floor given twice: passes that project only the queried positions onto the
          vocabulary (what dllm runs) and passes that project every position (what LLaDA's
          reference sampler runs); (b) batch 8 over batch 1 per sample; (c) dllm's request path
          (sorted, batched) over one request at a time; (d) NFE against its expected value.
samplers  every sampler at its reference defaults on a LLaDA stand-in: ms per prompt and mean NFE
          at batch 1 and 8 (the repeats alternate between the two; medians), batch 8 over batch 1,
          and whether batch 8 gave the same tokens; beside KLASS, KLASS computing its divergence at
          every masked position as its reference does (the runs alternate with KLASS's): its time
          over that variant's at each batch size, and whether both gave the same tokens.
cache     Fast-dLLM's caches on two deeper LLaDA stand-ins, with prompts as long relative to the
          canvas as ParallelBench's (the ratio is measured on the 17 tasks' one-shot chat prompts):
          ms per prompt for cache=none/prefix/dual at batch 1 and 8, the speed-up, and the share of
          the tokens run through the layers that each mode saves (the forward FLOPs of the
          transformer body scale with it). One stand-in has BERT's vocabulary, whose output layer
          weighs almost as much as the body; the other keeps LLaDA-8B's share of the output layer.
          For each, the median time of a pass by its width: a pass of a few tokens costs far more
          than its share of the tokens (every pass reads all the weights), which bounds the speed-up.
blocks    block diffusion on the block-diffusion stand-in (SDAR's conventions, blocks of 4 and 32):
          ms per prompt at batch 1 and 8 with the block cache against the same decoding recomputing
          every finished block; then ms per step as the generated length grows (64, 256, 1,024
          tokens), with and without the cache. With --sdar-reference (SDAR's generate.py) and
          --sdar-checkpoint (a tiny SDAR built by tiny_checkpoints.py from SDAR's modeling file), also
          ms per prompt of SDAR's own generation function against ours on that checkpoint.

sweep     the sweep's work around the ideal model (which needs no forward pass): `parallelbench sweep
          pretrained=ideal` over one configuration of each grid on the Waiting Line and Puzzle tasks
          (12 tasks, 1,208 items), run by this checkout and by an earlier commit of this repository
          (`--sweep-before`, default the last one before that work was cut), each in its own process:
          seconds per configuration (from each configuration folder's start and finish markers:
          task and request building, decoding, scoring, writing), MB written per configuration, the
          whole command's wall time, and whether both wrote the same accuracies. Needs a git checkout.
likelihood  LLaDA's Monte-Carlo log-likelihood on a LLaDA checkpoint (`--llada-checkpoint`, e.g. from
          benchmarks/tiny_checkpoints.py): `dllm`'s loglikelihood (lm-eval requests; batch_size 1, one
          pass per forward pass, and 8, the copies of 8 passes of any requests per forward pass)
          against LLaDA's get_log_likelihood.py (`--llada-reference`), one request at a time, at the
          same mc_num and mini-batch and on the same draws (the reference's global RNG seeded with
          each request's seed): requests per second and the largest difference of the estimates.

Run: python benchmarks/decoding.py [--sections floor,samplers,cache,blocks,sweep,likelihood] [--prompts 32] [--repeats 3]
     [--threads N] [--sdar-reference PATH --sdar-checkpoint DIR] [--llada-reference PATH --llada-checkpoint DIR]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import torch

from equivalence.common import check_model_dir, load_hub_model
from parallelbench_lmeval.decoding.samplers import SAMPLER_CLASSES
from parallelbench_lmeval.decoding.samplers.klass import KlassSampler
from parallelbench_lmeval.models.dllm import DiffusionLM, stream_seed
from parallelbench_lmeval.models.forward import StackForward
from parallelbench_lmeval.tiny_models import chat_tokenizer, tiny_block_diffusion_standin, tiny_llada_standin, tiny_masked_lm

SECTIONS = ("floor", "samplers", "cache", "blocks", "sweep", "likelihood")
DEFAULT_SECTIONS = ("floor", "samplers", "cache", "blocks", "sweep")
REPOSITORY = Path(__file__).resolve().parent.parent


def make_prompts(count: int, words_from: int = 20, words_to: int = 60, seed: int = 0) -> list[str]:
    """`count` prompts of `words_from`-`words_to` words (about as many tokens) from a fixed word list."""
    rng = torch.Generator().manual_seed(seed)
    words = "alpha beta gamma delta river stone cloud paper lamp music table garden window ocean".split()
    lengths = torch.randint(words_from, words_to + 1, (count,), generator=rng).tolist()
    return [" ".join(words[i] for i in torch.randint(len(words), (n,), generator=rng).tolist()) for n in lengths]


def requests_for(prompts, gen_length, **gen_kwargs):
    return [SimpleNamespace(args=(p, {"until": [], "max_gen_toks": gen_length, **gen_kwargs})) for p in prompts]


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def decode(lm, prompts, gen_length, **options):
    return lm.generate_until(requests_for(prompts, gen_length, **options), disable_tqdm=True)


def load() -> str:
    """The machine's load average over the last minute (other work slows every timing)."""
    return f"load average {os.getloadavg()[0]:.2f}"


# ------------------------------------------------------------------ floor
class RecordingForward:
    """Wraps the model's forward to record the inputs of every NFE."""

    def __init__(self, forward):
        self.forward, self.calls = forward, []
        self.shift, self.caches = forward.shift, forward.caches

    def __call__(self, ids, positions, keys, hidden_at, *args, **kwargs):
        self.calls.append((ids.clone(), positions.clone(), keys.clone(), hidden_at.clone()))
        return self.forward(ids, positions, keys, hidden_at, *args, **kwargs)


@torch.no_grad()
def bare_forward_seconds(forward, calls, windowed: bool) -> float:
    """The recorded forward passes again, with nothing else around them."""

    def run():
        for ids, positions, keys, hidden_at in calls:
            if windowed:
                forward(ids, positions, keys, hidden_at)
            else:
                forward.head.positions = None
                forward.full_logits(ids, positions, keys)

    return timed(run)


def loop_versus_floor(lm, prompts, gen_length, k, repeats):
    """(loop seconds, windowed floor seconds, full-logits floor seconds), medians over repeats."""
    recorder = RecordingForward(lm.backend.forward)
    lm.backend._forward = recorder
    loops, windowed, full = [], [], []
    for _ in range(repeats):
        recorder.calls.clear()
        loops.append(timed(lambda: decode(lm, prompts, gen_length, k=k)))
        windowed.append(bare_forward_seconds(recorder.forward, recorder.calls, windowed=True))
        full.append(bare_forward_seconds(recorder.forward, recorder.calls, windowed=False))
    lm.backend._forward = recorder.forward
    return statistics.median(loops), statistics.median(windowed), statistics.median(full)


def expected_nfe_table(lm, prompts, gen_length) -> list[tuple[str, float, str]]:
    """Measured mean NFE for several configurations and what it must be."""
    configurations = [(f"top-k k={k}", {"k": k}, f"{-(-gen_length // k)}") for k in (1, 2, 4, 8)]
    configurations += [
        ("left_to_right k=4", {"unmasking": "left_to_right", "k": 4}, f"{-(-gen_length // 4)}"),
        ("steps=5", {"steps": 5}, "5"),
        # a random tiny model is never confident: gamma=1 commits one token per step, tiny gamma all at once
        ("threshold 1.0", {"threshold": 1.0}, f"{gen_length}"),
        ("threshold 1e-9", {"threshold": 1e-9}, "1"),
        ("threshold 1e-9, 4 blocks", {"threshold": 1e-9, "block_length": gen_length // 4}, "4"),
        ("factor 1e-6", {"factor": 1e-6}, f"{gen_length}"),
        ("factor 1e9", {"factor": 1e9}, "1"),
    ]
    return [(label, statistics.mean(o.stats["nfe"] for o in decode(lm, prompts, gen_length, **options)), expected)
            for label, options, expected in configurations]


def floor_section(folder: Path, prompts, gen_length, repeats) -> None:
    model_dir = tiny_masked_lm(folder / "tiny_bert")
    models = {b: DiffusionLM(pretrained=str(model_dir), device="cpu", batch_size=b) for b in (1, 8)}
    for lm in models.values():  # load weights and warm up outside the timings
        decode(lm, prompts[:8], gen_length, k=8)
    print(f"[floor] tiny BertForMaskedLM (2 layers, width 64, vocab 30522), {len(prompts)} prompts of 20-60 words, "
          f"gen_length {gen_length}, confidence, greedy, torch threads {torch.get_num_threads()}\n")
    print("(a) loop time / bare forward passes (same inputs, same NFE)")
    print(f"{'k':>3} {'batch':>5} {'ms/prompt':>10} {'loop/windowed floor':>20} {'loop/full-logits floor':>23}")
    per_sample = {}
    for k in (1, 4):
        for batch, lm in models.items():
            loop, windowed, full = loop_versus_floor(lm, prompts, gen_length, k, repeats)
            per_sample[(k, batch)] = loop / len(prompts)
            print(f"{k:>3} {batch:>5} {1000 * loop / len(prompts):>10.1f} {loop / windowed:>20.3f} {loop / full:>23.3f}")
    print("\n(b) per-sample throughput, batch 8 over batch 1")
    for k in (1, 4):
        print(f"  k={k}: {per_sample[(k, 1)] / per_sample[(k, 8)]:.2f}x")
    print("\n(c) dllm (lm-eval requests, sorted by length, batch 8) over one request at a time, same loop")
    for k in (1, 4):
        batched = timed(lambda k=k: decode(models[8], prompts, gen_length, k=k))
        single = timed(lambda k=k: [decode(models[1], [p], gen_length, k=k) for p in prompts])
        print(f"  k={k}: {single / batched:.2f}x the throughput")
    print("\n(d) mean NFE per sample against the expected value")
    for label, measured, expected in expected_nfe_table(models[8], prompts, gen_length):
        print(f"  {label:<26} measured {measured:6.2f}   expected {expected}")
    print()


# ------------------------------------------------------------------ samplers
SAMPLER_CONFIGURATIONS = [
    ("confidence k=1", {}),
    ("confidence-threshold 0.9", {"threshold": 0.9}),
    ("eb (gamma 0.01)", {"sampler": "eb"}),
    ("pc k=1", {"sampler": "pc", "pc_frequencies": "uniform"}),
    ("wino (extended canvas)", {"sampler": "wino"}),
    ("wino (plain canvas)", {"sampler": "wino", "wino_canvas": "plain"}),
    ("slowfast", {"sampler": "slowfast"}),
    ("klass", {"sampler": "klass"}),
    ("dus (one block)", {"sampler": "dus"}),
    ("rcr k=1", {"sampler": "rcr"}),
    ("remdm k=1", {"sampler": "remdm"}),
]


class KlassEverywhere(KlassSampler):
    """KLASS with its divergence computed at every masked position, as its reference computes it:
    the work that `peak_floor` (decoding/samplers/klass.py) saves, timed beside it."""

    def __init__(self, *args):
        super().__init__(*args)
        self.keep_every_distribution = True


# sampler classes timed beside a configuration's own (label, class), by sampler name
SAMPLER_VARIANTS = {"klass": [("klass, divergence everywhere", KlassEverywhere)]}


@contextmanager
def sampler_class(name: str, cls):
    """Decodes sampler=`name` with `cls` inside the block."""
    saved = SAMPLER_CLASSES[name]
    SAMPLER_CLASSES[name] = cls
    try:
        yield
    finally:
        SAMPLER_CLASSES[name] = saved


def timed_decodes(models, prompts, gen_length, repeats, options, variants) -> dict:
    """{(label, batch): (median seconds per prompt, outputs)} for each (label, sampler class) of
    `variants`; the runs alternate between the batch sizes and the variants, so that the ratios
    between them are taken under the same load."""
    name, runs, outputs = options.get("sampler", "standard"), {}, {}
    for _ in range(repeats):
        for label, cls in variants:
            with sampler_class(name, cls):
                for batch, lm in models.items():
                    started = time.perf_counter()
                    outputs[label, batch] = decode(lm, prompts, gen_length, **options)
                    runs.setdefault((label, batch), []).append(time.perf_counter() - started)
    return {key: (statistics.median(times) / len(prompts), outputs[key]) for key, times in runs.items()}


def samplers_section(folder: Path, prompts, gen_length, repeats) -> None:
    model_dir = tiny_llada_standin(folder / "tiny_llada")
    models = {b: DiffusionLM(pretrained=str(model_dir), device="cpu", trust_remote_code=True, batch_size=b)
              for b in (1, 8)}
    for lm in models.values():
        decode(lm, prompts[:8], gen_length, k=8)
    print(f"[samplers] LLaDA stand-in (2 layers, width 64, vocab 30592, output layer x6), {len(prompts)} prompts of "
          f"20-60 words, gen_length {gen_length}, greedy, reference defaults, median of {repeats} runs per batch "
          f"size (alternating, with a configuration's variants too), torch threads {torch.get_num_threads()}, "
          f"{load()}\n")
    print(f"{'sampler':<30} {'ms/prompt b1':>12} {'ms/prompt b8':>12} {'b8/b1':>6} {'NFE':>6} {'same tokens':>12}")
    comparisons = []
    for label, options in SAMPLER_CONFIGURATIONS:
        name = options.get("sampler", "standard")
        variants = [(label, SAMPLER_CLASSES[name]), *SAMPLER_VARIANTS.get(name, [])]
        measured = timed_decodes(models, prompts, gen_length, repeats, options, variants)
        texts = {key: [str(o) for o in outputs] for key, (_, outputs) in measured.items()}
        for variant, _ in variants:
            (one, _), (eight, outputs) = measured[variant, 1], measured[variant, 8]
            nfe = statistics.mean(o.stats["nfe"] for o in outputs)
            same = texts[variant, 1] == texts[variant, 8]
            print(f"{variant:<30} {1000 * one:>12.1f} {1000 * eight:>12.1f} {eight / one:>6.2f} {nfe:>6.2f} "
                  f"{str(same):>12}")
        comparisons += [(label, variant, [measured[label, b][0] / measured[variant, b][0] for b in models],
                         all(texts[label, b] == texts[variant, b] for b in models)) for variant, _ in variants[1:]]
    for label, variant, ratios, same in comparisons:
        print(f"{label} over {variant}: " + ", ".join(f"b{b} {r:.2f}" for b, r in zip(models, ratios))
              + f" (same tokens: {same})")
    print(f"({load()} at the end)\n")


# ------------------------------------------------------------------ cache
def prompt_to_canvas_ratio(limit: int = 10) -> tuple[float, int]:
    """Mean prompt tokens over canvas tokens on ParallelBench's 17 tasks, one-shot chat prompts as
    the paper runs them (BERT tokenizer, the tiny models' chat template), and the mean prompt length."""
    from lm_eval.tasks import TaskManager

    from parallelbench_lmeval.registration import ensure_registered

    ensure_registered()
    os.environ.setdefault("PARALLELBENCH_SCORERS", "offline")  # only the prompts are needed here
    tokenizer = chat_tokenizer()
    tasks = TaskManager().load(["parallelbench"])["tasks"]
    ratios, lengths = [], []
    for task in tasks.values():
        task.build_all_requests(limit=limit, apply_chat_template=True, fewshot_as_multiturn=True,
                                chat_template=lambda history, add_generation_prompt=True: tokenizer.apply_chat_template(
                                    history, tokenize=False, add_generation_prompt=add_generation_prompt))
        canvas = task.config.generation_kwargs["max_gen_toks"]
        for instance in task.instances:
            length = len(tokenizer(instance.args[0], add_special_tokens=False)["input_ids"])
            ratios.append(length / canvas)
            lengths.append(length)
    return statistics.mean(ratios), round(statistics.mean(lengths))


class TimedForward(StackForward):
    """The stack forward, recording for each pass the tokens it runs through the layers, its time
    and whether it read a cache."""

    def __init__(self, forward: StackForward):
        super().__init__(forward.stack, forward.shift)
        self.passes: list[tuple[int, float, bool]] = []

    def __call__(self, ids, *args, cache=None, **kwargs):
        started = time.perf_counter()
        result = super().__call__(ids, *args, cache=cache, **kwargs)
        self.passes.append((ids.numel(), time.perf_counter() - started, cache is not None))
        return result


def output_layer_share(d_model: int, n_layers: int, mlp: int, vocabulary: int) -> float:
    """Weights of the output layer over those of the transformer body (attention and MLP) of a
    LLaDA-architecture model: the share of a pass's work that caching cannot remove."""
    return vocabulary * d_model / (n_layers * (4 * d_model**2 + 3 * d_model * mlp))


# LLaDA-8B-Instruct's config.json: d_model 4096, 32 layers, mlp_hidden_size 12288, vocabulary 126,464
LLADA_8B_SHARE = output_layer_share(4096, 32, 12288, 126464)
# the cache section's two stand-ins: BERT's full vocabulary makes the output layer about as large as
# the whole body, so a pass has a large part that no cache removes; the second keeps LLaDA-8B's share
CACHE_STANDINS = {
    "bert-vocabulary": {"d_model": 384, "n_layers": 8, "n_heads": 6, "mlp_hidden_size": 1024},
    "llada-8b-shares": {"d_model": 384, "n_layers": 8, "n_heads": 6, "mlp_hidden_size": 1152, "vocab_size": 2944},
}


def prompts_of_tokens(tokenizer, tokens: int, count: int) -> list[str]:
    """`count` prompts of about `tokens` tokens (within +-20%) under `tokenizer`."""
    sample = make_prompts(1, 400, 400, seed=2)[0]
    tokens_per_word = len(tokenizer(sample, add_special_tokens=False)["input_ids"]) / 400
    words = tokens / tokens_per_word
    return make_prompts(count, words_from=round(0.8 * words), words_to=round(1.2 * words), seed=1)


def pass_times(batch: int, runs: dict[str, list]) -> str:
    """Median time of the passes of the k=1 runs by the tokens they ran: a pass of few tokens is
    not proportionally cheaper (the weights are read once per pass whatever its width), which
    bounds what a cache can save per pass."""

    def median_ms(passes, tokens, cached):
        return 1000 * statistics.median(s for t, s, c in passes if t == tokens and c == cached)

    full = max(t for t, _, _ in runs["none"])
    parts = [f"uncached {full} tokens {median_ms(runs['none'], full, False):.1f} ms"]
    for cache in ("prefix", "dual"):
        widths = sorted({t for t, _, c in runs[cache] if c})
        parts.append(f"{cache}-cached " + ", ".join(f"{t} tokens {median_ms(runs[cache], t, True):.1f} ms"
                                                    for t in sorted({widths[0], widths[-1]})))
    return f"batch {batch}, median time of a pass (k=1 runs): " + "; ".join(parts)


def cache_section(folder: Path, count: int, gen_length, repeats, block_length: int) -> None:
    from transformers import AutoTokenizer

    ratio, mean_length = prompt_to_canvas_ratio()
    print(f"[cache] ParallelBench's one-shot chat prompts average {mean_length} tokens, {ratio:.1f}x their canvas: "
          f"{count} prompts of ~{round(ratio * gen_length)} tokens, gen_length {gen_length}, blocks of {block_length}, "
          f"greedy, median of {repeats} runs, torch threads {torch.get_num_threads()}")
    for name, shape in CACHE_STANDINS.items():
        model_dir = tiny_llada_standin(folder / name, **shape)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        prompts = prompts_of_tokens(tokenizer, round(ratio * gen_length), count)
        measured = statistics.mean(len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts)
        config = json.loads((model_dir / "config.json").read_text())
        share = output_layer_share(config["d_model"], config["n_layers"], config["mlp_hidden_size"], config["vocab_size"])
        print(f"\nstand-in {name}: LLaDA architecture, {config['n_layers']} layers, width {config['d_model']}, MLP "
              f"{config['mlp_hidden_size']}, vocabulary {len(tokenizer):,}: output layer {share:.0%} of the body's weights "
              f"(LLaDA-8B: {LLADA_8B_SHARE:.1%}); prompts {measured:.0f} tokens on average\n")
        print(f"{'decoding':<36} {'batch':>5} {'ms/prompt':>10} {'speed-up':>9} {'layer tokens saved':>19} {'NFE':>6}")
        k1_passes = {}
        for label, options in (("confidence k=1", {"k": 1}), ("confidence threshold 0.9", {"threshold": 0.9})):
            for batch in (1, 8):
                lm = DiffusionLM(pretrained=str(model_dir), device="cpu", trust_remote_code=True, batch_size=batch)
                decode(lm, prompts[:2], gen_length, k=8)  # load and warm up
                timer = TimedForward(lm.backend.forward)
                lm.backend._forward = timer
                base = None
                for cache in ("none", "prefix", "dual"):
                    timer.passes.clear()
                    outputs = []
                    runs = [timed(lambda: outputs.append(decode(lm, prompts, gen_length, cache=cache,
                                                                block_length=block_length, **options)))
                            for _ in range(repeats)]
                    tokens = sum(p[0] for p in timer.passes) / repeats
                    seconds = statistics.median(runs) / len(prompts)
                    base = base or (seconds, tokens)
                    if "k" in options:
                        k1_passes.setdefault(batch, {})[cache] = list(timer.passes)
                    print(f"{label + ', cache=' + cache:<36} {batch:>5} {1000 * seconds:>10.1f} {base[0] / seconds:>8.2f}x "
                          f"{1 - tokens / base[1]:>18.0%} {statistics.mean(o.stats['nfe'] for o in outputs[-1]):>6.2f}")
        for batch, runs in k1_passes.items():
            print(pass_times(batch, runs))
    print()


# ------------------------------------------------------------------ blocks
# deeper than the tests' stand-in, so that a pass's cost follows its tokens; BERT's vocabulary cut to 2,944
BLOCK_STANDIN = {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 768,
                 "vocab_size": 2944}


def block_model(folder: Path, batch: int, **options) -> DiffusionLM:
    # end tokens are never proposed: every decoding runs its whole length
    return DiffusionLM(pretrained=str(folder), device="cpu", trust_remote_code=True, batch_size=batch, suppress_eos=True,
                       **options)


def timed_decode(lm, prompts, gen_length, repeats, block_cache: bool, **options) -> tuple[float, float]:
    """(median seconds per prompt, mean NFE) of decoding `prompts`, keeping or recomputing finished blocks."""
    lm.backend.block_cache = block_cache
    outputs, runs = [], []
    for _ in range(repeats):
        runs.append(timed(lambda: outputs.append(decode(lm, prompts, gen_length, **options))))
    lm.backend.block_cache = True
    return statistics.median(runs) / len(prompts), statistics.mean(o.stats["nfe"] for o in outputs[-1])


def sdar_reference_seconds(reference: Path, checkpoint: Path, prompts, gen_length, repeats) -> float:
    """Median seconds per prompt of SDAR's own block_diffusion_generate (greedy, one prompt at a time)."""
    from equivalence.common import import_file
    from equivalence.sdar import DenoisingPasses, GreedyTorch, load_causal_lm
    from transformers import AutoTokenizer

    module = import_file(reference, "sdar_reference_generate")
    module.torch = GreedyTorch()
    model, tokenizer = load_causal_lm(checkpoint), AutoTokenizer.from_pretrained(checkpoint)
    ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]

    def run():
        with torch.no_grad():
            for prompt in ids:
                module.block_diffusion_generate(DenoisingPasses(model), {"input_ids": torch.tensor([prompt])},
                                                model.config.mask_token_id, gen_length=gen_length, block_length=4,
                                                denoising_steps=4, temperature=1.0,
                                                remasking_strategy="low_confidence_static")

    return statistics.median(timed(run) for _ in range(repeats)) / len(prompts)


def blocks_section(folder: Path, count: int, repeats: int, reference: Path | None, checkpoint: Path | None) -> None:
    prompts = make_prompts(count)
    print(f"[blocks] block-diffusion stand-in (SDAR's conventions; {BLOCK_STANDIN['num_hidden_layers']} layers, width "
          f"{BLOCK_STANDIN['hidden_size']}, vocabulary {BLOCK_STANDIN['vocab_size']:,}), {count} prompts of 20-60 "
          f"words, greedy, median of {repeats} runs, torch threads {torch.get_num_threads()}\n")
    print(f"{'decoding':<40} {'batch':>5} {'ms/prompt cached':>17} {'recomputed':>11} {'speed-up':>9} {'NFE':>6}")
    for block, gen_length, label, options in ((4, 64, "blocks of 4, k=1", {"k": 1}),
                                              (4, 64, "blocks of 4, threshold 0.9", {"threshold": 0.9}),
                                              (32, 64, "blocks of 32, k=2", {"k": 2})):
        model_dir = tiny_block_diffusion_standin(folder / f"block_standin_{block}", block_size=block, **BLOCK_STANDIN)
        for batch in (1, 8):
            lm = block_model(model_dir, batch)
            decode(lm, prompts[:2], block, k=block)  # load and warm up
            cached, nfe = timed_decode(lm, prompts, gen_length, repeats, True, **options)
            recomputed, _ = timed_decode(lm, prompts, gen_length, repeats, False, **options)
            print(f"{label + f', gen {gen_length}':<40} {batch:>5} {1000 * cached:>17.1f} {1000 * recomputed:>11.1f} "
                  f"{recomputed / cached:>8.2f}x {nfe:>6.1f}")
    print("\nms per step as the generated length grows (blocks of 32, k=8, batch 1, 2 prompts):")
    print(f"{'generated tokens':>16} {'cached ms/step':>15} {'recomputed ms/step':>19} {'ratio':>6}")
    model_dir = folder / "block_standin_32"
    lm = block_model(model_dir, 1)
    for gen_length in (64, 256, 1024):
        cached, nfe = timed_decode(lm, prompts[:2], gen_length, repeats, True, k=8)
        recomputed, _ = timed_decode(lm, prompts[:2], gen_length, repeats, False, k=8)
        print(f"{gen_length:>16} {1000 * cached / nfe:>15.2f} {1000 * recomputed / nfe:>19.2f} "
              f"{recomputed / cached:>5.1f}x")
    if reference is None or checkpoint is None:
        print("\n(SDAR's own generate.py: give --sdar-reference and --sdar-checkpoint)\n")
        return
    print(f"\nSDAR's generate.py against ours on {checkpoint} (blocks of 4, one token per step, gen 64):")
    theirs = sdar_reference_seconds(reference, checkpoint, prompts, 64, repeats)
    for batch in (1, 8):
        lm = block_model(checkpoint, batch)
        decode(lm, prompts[:2], 4, k=4)
        ours, _ = timed_decode(lm, prompts, 64, repeats, True, k=1)
        print(f"  batch {batch}: ours {1000 * ours:.1f} ms/prompt, SDAR's generate.py (batch 1) "
              f"{1000 * theirs:.1f} ms/prompt: {theirs / ours:.2f}x")
    print()


# ------------------------------------------------------------------ sweep
# one configuration of each grid of examples/ideal_sweep.sh
SWEEP_CONFIGURATIONS = (
    "k=1", "unmasking=random,k=4", "unmasking=left_to_right,k=2", "threshold=0.8", "factor=1.1",
    "unmasking=random,k=2,block_length=4", "sampler=wino,wino_threshold=0.7,wino_threshold_back=0.9",
    "sampler=wino,wino_canvas=plain,wino_threshold=0.7,wino_threshold_back=0.9", "sampler=slowfast",
    "sampler=klass,klass_conf_threshold=0.9,klass_kl_threshold=0.01,klass_kl_history=2",
    "sampler=dus,block_length=4", "sampler=eb,eb_gamma=0.1", "sampler=pc,unmasking=random,k=2", "sampler=rcr,k=2",
    "sampler=remdm,k=2,remdm_steps=1,remdm_number=1",
)
# main just before the sweep's per-configuration work was cut (issue 20) was merged into it
SWEEP_BEFORE = "a086abb"
SWEEP_TASKS = "parallelbench_waiting_line,parallelbench_puzzle"


def run_sweep(code: Path, output: Path, threads: int) -> tuple[float, dict]:
    """`parallelbench sweep` on the ideal model with the package at `code`: its wall time, and per
    configuration folder (seconds between its start and finish markers, bytes written, pb_acc per task)."""
    command = [sys.executable, "-m", "parallelbench_lmeval.cli", "sweep", "--model", "dllm", "--model_args",
               "pretrained=ideal", "--tasks", SWEEP_TASKS, "--bootstrap_iters", "0", "--output_path", str(output)]
    for configuration in SWEEP_CONFIGURATIONS:
        command += ["--config", configuration]
    environment = {**os.environ, "PYTHONPATH": str(code), "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    subprocess.run(command, env=environment, cwd=output.parent, check=True, capture_output=True)
    wall = time.perf_counter() - started
    folders = {}
    for done in sorted(output.glob("*/sweep_config.json")):
        folder = done.parent
        seconds = done.stat().st_mtime - (folder / "sweep_started.json").stat().st_mtime
        size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
        results = json.loads(Path(glob.glob(str(folder / "*" / "results_*.json"))[0]).read_text(encoding="utf-8"))
        accuracy = {task: metrics.get("pb_acc,none") for task, metrics in results["results"].items()}
        folders[folder.name] = (seconds, size, accuracy)
    return wall, folders


def sweep_section(folder: Path, before: str, threads: int) -> None:
    old = folder / "before_code"
    old.mkdir()
    archive = subprocess.run(["git", "-C", str(REPOSITORY), "archive", before], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
    print(f"[sweep] parallelbench sweep pretrained=ideal, {len(SWEEP_CONFIGURATIONS)} configurations (one per grid), "
          f"tasks {SWEEP_TASKS} (12 tasks, 1,208 items), before = commit {before}, after = this checkout, "
          f"OMP threads {threads}, {load()}\n")
    runs = {label: run_sweep(code, folder / f"sweep_{label}", threads)
            for label, code in (("before", old), ("after", REPOSITORY))}
    (before_wall, before_folders), (after_wall, after_folders) = runs["before"], runs["after"]
    width = max(len(name) for name in before_folders)
    print(f"{'configuration':<{width}} {'s before':>8} {'s after':>8} {'ratio':>6}")
    for name in before_folders:
        b, a = before_folders[name][0], after_folders[name][0]
        print(f"{name:<{width}} {b:>8.2f} {a:>8.2f} {b / a:>5.1f}x")
    count = len(before_folders)
    mean = {label: sum(f[0] for f in folders.values()) / count for label, (_, folders) in runs.items()}
    size = {label: sum(f[1] for f in folders.values()) / count / 1e6 for label, (_, folders) in runs.items()}
    same = all(before_folders[n][2] == after_folders[n][2] for n in before_folders)
    print(f"\nseconds per configuration: before {mean['before']:.2f}, after {mean['after']:.2f} "
          f"({mean['before'] / mean['after']:.1f}x)")
    print(f"MB written per configuration: before {size['before']:.2f}, after {size['after']:.2f} "
          f"(after: per-item scores instead of lm-eval's samples, which --log_samples writes)")
    print(f"whole command (process start, task index, model, {count} configurations): before {before_wall:.1f} s, "
          f"after {after_wall:.1f} s")
    print(f"same pb_acc for every task and configuration: {same}")
    print(f"({load()} at the end)\n")


# ------------------------------------------------------------------ likelihood
def likelihood_requests(count: int) -> list[tuple[str, str]]:
    """(context, continuation) pairs as lm-eval's multiple-choice tasks send them: 20-60 word contexts,
    1-12 word continuations."""
    contexts = make_prompts(count, 20, 60, seed=3)
    continuations = make_prompts(count, 1, 12, seed=4)
    return [(context, " " + continuation) for context, continuation in zip(contexts, continuations)]


def likelihood_section(reference: Path, model_dir: Path, count: int, mc_num: int, mc_batch: int, repeats: int) -> None:
    from likelihood_equivalence import reference_module

    module = reference_module(reference)
    pairs = likelihood_requests(count)
    ours = {b: DiffusionLM(pretrained=str(model_dir), device="cpu", trust_remote_code=True, batch_size=b,
                           mc_num=mc_num, mc_batch_size=mc_batch) for b in (1, 8)}
    backend = ours[1].backend
    model = load_hub_model(model_dir)
    ids = [backend.likelihood_inputs(*pair) for pair in pairs]
    if any(suffix for _, _, suffix in ids):
        raise SystemExit(f"{model_dir}: its tokenizer appends tokens after the answer, which get_log_likelihood.py "
                         "does not take; use a LLaDA checkpoint")
    requests = [SimpleNamespace(args=pair) for pair in pairs]
    ours[8].loglikelihood(requests[:2], disable_tqdm=True)  # load the weights outside the timings

    def reference_estimates():
        estimates = []
        with torch.no_grad():
            for (context, continuation), (prompt, answer, _) in zip(pairs, ids):
                torch.manual_seed(stream_seed("0", "loglikelihood", context, continuation))  # our draws for it
                estimates.append(module.get_log_likelihood(model, torch.tensor(prompt), torch.tensor(answer),
                                                           mc_num=mc_num, batch_size=mc_batch, mask_id=backend.mask_id))
        return estimates

    runs = {"reference": [], 1: [], 8: []}
    estimates = {}
    for _ in range(repeats):
        runs["reference"].append(timed(lambda: estimates.__setitem__("reference", reference_estimates())))
        for batch, lm in ours.items():
            runs[batch].append(timed(lambda lm=lm, batch=batch: estimates.__setitem__(
                batch, [ll for ll, _ in lm.loglikelihood(requests, disable_tqdm=True)])))
    answers = [len(answer) for _, answer, _ in ids]
    print(f"[likelihood] {model_dir.name}: {count} requests (contexts of 20-60 words, answers of {min(answers)}-"
          f"{max(answers)} tokens), mc_num {mc_num}, mini-batch {mc_batch}, median of {repeats} runs (alternating), "
          f"torch threads {torch.get_num_threads()}, {load()}\n")
    rate = {key: count / statistics.median(times) for key, times in runs.items()}
    print(f"{'estimator':<56} {'requests/s':>10} {'vs reference':>12} {'max |difference|':>17}")
    rows = [("LLaDA get_log_likelihood.py (one request at a time)", "reference"),
            ("dllm loglikelihood, batch_size 1 (one pass per forward)", 1),
            ("dllm loglikelihood, batch_size 8 (8 passes per forward)", 8)]
    for label, key in rows:
        difference = max(abs(x - y) for x, y in zip(estimates[key], estimates["reference"]))
        print(f"{label:<56} {rate[key]:>10.2f} {rate[key] / rate['reference']:>11.2f}x {difference:>17.2e}")
    scale = max(abs(e) for e in estimates["reference"])
    print(f"(estimates from {-scale:.1f} to {max(estimates['reference']):.1f}; {load()} at the end)\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", default=",".join(DEFAULT_SECTIONS), help=f"comma-separated among {', '.join(SECTIONS)}")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--gen-length", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--block-length", type=int, default=8, help="block length of the cache section")
    parser.add_argument("--sdar-reference", type=Path, help="blocks section: SDAR's generate.py")
    parser.add_argument("--sdar-checkpoint", type=Path, help="blocks section: a tiny SDAR from tiny_checkpoints.py")
    parser.add_argument("--sweep-before", default=SWEEP_BEFORE, help=f"git commit the sweep section compares with "
                                                                    f"(default {SWEEP_BEFORE})")
    parser.add_argument("--llada-reference", type=Path, help="likelihood: ML-GSAI/LLaDA's folder or its get_log_likelihood.py")
    parser.add_argument("--llada-checkpoint", type=Path, help="likelihood: a LLaDA model folder (benchmarks/tiny_checkpoints.py)")
    parser.add_argument("--mc-num", type=int, default=128, help="likelihood: masked copies per request (default 128)")
    parser.add_argument("--mc-batch", type=int, default=16,
                        help="likelihood: copies per pass (default 16, get_log_likelihood.py's default)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's, one per core); on a busy machine "
                                                    "1 keeps threads from waiting for each other")
    args = parser.parse_args()
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    sections = [s for s in args.sections.split(",") if s]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; allowed: {', '.join(SECTIONS)}")
    if "likelihood" in sections:
        if args.llada_reference is None or args.llada_checkpoint is None:
            parser.error("the likelihood section needs --llada-reference and --llada-checkpoint")
        check_model_dir(parser, args.llada_checkpoint)
        if args.mc_num % args.mc_batch or args.mc_batch < 1:
            parser.error(f"--mc-num {args.mc_num} must be a multiple of --mc-batch {args.mc_batch} (at least 1)")
    prompts = make_prompts(args.prompts)
    with tempfile.TemporaryDirectory() as folder:
        if "floor" in sections:
            floor_section(Path(folder), prompts, args.gen_length, args.repeats)
        if "samplers" in sections:
            samplers_section(Path(folder), prompts, args.gen_length, args.repeats)
        if "cache" in sections:
            cache_section(Path(folder), min(args.prompts, 16), args.gen_length, args.repeats, args.block_length)
        if "blocks" in sections:
            blocks_section(Path(folder), min(args.prompts, 16), args.repeats, args.sdar_reference, args.sdar_checkpoint)
        if "sweep" in sections:
            sweep_section(Path(folder), args.sweep_before, torch.get_num_threads())
        if "likelihood" in sections:
            likelihood_section(args.llada_reference, args.llada_checkpoint, args.prompts, args.mc_num, args.mc_batch,
                               args.repeats)


if __name__ == "__main__":
    main()
