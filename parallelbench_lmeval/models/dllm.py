"""`--model dllm`: lm-eval plumbing around the unmasking loop (options, batching, statistics)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import os
import time
from collections import Counter

import torch
from lm_eval.api.model import LM
from lm_eval.models.utils import Collator
from tqdm import tqdm

from parallelbench_lmeval import __version__
from parallelbench_lmeval.decoding import DecodingConfig
from parallelbench_lmeval.decoding.config import DECODING_OPTIONS, own_sampler_options
from parallelbench_lmeval.decoding.frequencies import check_table_name
from parallelbench_lmeval.errors import did_you_mean
from parallelbench_lmeval.likelihood import Request, log_likelihoods
from parallelbench_lmeval.models.block_diffusion import complete_block_config
from parallelbench_lmeval.models.families import FAMILY_SPECS
from parallelbench_lmeval.models.settings import ModelSettings
from parallelbench_lmeval.options import optional_int
from parallelbench_lmeval.stats import DecodedText

logger = logging.getLogger(__name__)

# what a request's gen_kwargs may hold: lm-eval's own keys plus ours
REQUEST_OPTIONS = ("until", "max_gen_toks", "do_sample", *DECODING_OPTIONS, "seed")
CPU_AUTO_BATCH_SIZE = 8
CACHING_FAMILIES = ("llada", "llada_moe", "dream")
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def _resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return DTYPES[dtype]


def stream_seed(*parts: str) -> int:
    """The seed of a request's random numbers, from the run's seed and what identifies the request
    (its prompt; for likelihood, the request type and arguments): never from its place in the run."""
    digest = hashlib.blake2b("\0".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@functools.cache
def _log_once(level: int, message: str) -> None:
    """Choices made for the user (a device fallback, a batch size) are said once per process."""
    logger.log(level, message)


def _resolve_device(device: str | None, accelerator) -> torch.device:
    if accelerator is not None:
        return accelerator.device
    wanted = torch.device(device or "cuda:0")
    if wanted.type == "cuda" and not torch.cuda.is_available():
        _log_once(logging.WARNING, f"device {wanted} is not available; decoding on the CPU")
        return torch.device("cpu")
    return wanted


def _data_parallel_accelerator(device: str | None):
    """An Accelerator when launched on several processes (accelerate launch / torchrun)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    from accelerate import Accelerator

    on_cpu = str(device or "").startswith("cpu") or not torch.cuda.is_available()
    accelerator = Accelerator(cpu=on_cpu)
    return accelerator if accelerator.num_processes > 1 else None


def request_decoding_options(defaults: dict, gen_kwargs: dict) -> dict:
    """A request's decoding options: the model's defaults, overridden by the request's gen_kwargs.
    The defaults' options of another sampler than the one that runs are left out."""
    unknown = set(gen_kwargs) - set(REQUEST_OPTIONS)
    if unknown:
        raise ValueError(f"unknown gen_kwargs {sorted(unknown)} for dllm{did_you_mean(sorted(unknown), REQUEST_OPTIONS)}; "
                         f"allowed: {', '.join(REQUEST_OPTIONS)}")
    given = {k: v for k, v in gen_kwargs.items() if k in DECODING_OPTIONS and v is not None}
    options = own_sampler_options(defaults, str(given.get("sampler") or defaults.get("sampler") or "standard"))
    options.update(given)
    # tasks declare greedy decoding (temperature 0): a sampling temperature given to the model still applies
    if not float(gen_kwargs.get("temperature") or 0) and "temperature" in defaults:
        options["temperature"] = defaults["temperature"]
    return options


def decoding_used(requests, configs: list[DecodingConfig]) -> list[dict]:
    """The distinct effective configurations of a run's requests (every option, defaults resolved),
    each with the tasks that used it: `[{"tasks": [...], "sampler": "pc", "pc_lambda": 0.25, ...}]`."""
    used: dict[tuple, tuple[dict, set]] = {}
    for request, config in zip(requests, configs):
        options = config.effective_options()
        _, tasks = used.setdefault(tuple(options.items()), (options, set()))
        tasks.add(getattr(request, "task_name", None) or "")
    return [{"tasks": sorted(tasks - {""}), **options} for options, tasks in used.values()]


def with_family(config: DecodingConfig, family: str, model_config, warn) -> DecodingConfig:
    """`config` completed and checked for the model family (`model_config`: the checkpoint's config,
    None for the ideal model): the family's top-k schedule, block diffusion's blocks and refusals,
    and whether its layers can be cached. Needs no weights."""
    config = config.with_family_defaults(family)
    spec = FAMILY_SPECS.get(family)
    if spec is not None and spec.block_causal:
        config = complete_block_config(config, spec, model_config, warn)
    if config.cache != "none" and family not in CACHING_FAMILIES:
        raise ValueError(
            f"cache={config.cache} runs LLaDA's, LLaDA-MoE's or Dream's layers with kept keys and values; "
            f"this model is of family {family!r} (allowed with cache: {', '.join(CACHING_FAMILIES)})"
        )
    return config


def check_model_args(model_args: dict, additional_config: dict | None = None, gen_kwargs: dict | None = None,
                     configurations: list[dict] = ()) -> ModelSettings:
    """Everything about `dllm`'s arguments that can be known without weights: option values, the
    local folder or hub id, the need for remote code, the family and the special ids, and the
    decoding options of `gen_kwargs` (lm_eval's `--gen_kwargs`) and of each of `configurations`
    (a sweep's) over the model's, for the model's family. Raises ValueError naming the bad value.
    The model runs it on construction, the autoload hook before lm-eval indexes its tasks, and
    sweeps before the first configuration runs, so a mistake costs seconds, not a run."""
    extra = {k: v for k, v in (additional_config or {}).items() if v is not None}
    twice = sorted(set(extra) & set(model_args))
    if twice:
        # lm-eval passes its own flags next to --model_args: the model would get both values
        raise ValueError(
            f"{', '.join(twice)} given both in --model_args and by lm-eval's own flag "
            f"({', '.join('--' + name for name in twice)}): give each once, as the flag"
        )
    settings = ModelSettings.parse(**{**model_args, **extra})
    gen_kwargs = gen_kwargs or {}
    requests = [gen_kwargs, *({**gen_kwargs, **{k: v for k, v in c.items() if k != "seed"}} for c in configurations)]
    options = [request_decoding_options(settings.decoding_defaults, request) for request in requests]
    for given in options:  # before the config is read (a hub id may take seconds)
        DecodingConfig.from_options(gen_length=None, **given)
    if settings.is_ideal:
        family, model_config = "ideal", None
    else:
        from parallelbench_lmeval.models.transformer_backend import resolve_model_source

        source = resolve_model_source(settings)
        family, model_config = source.family, source.config
    for request, given in zip(requests, options):
        config = DecodingConfig.from_options(gen_length=request.get("max_gen_toks"), family=family, **given)
        with_family(config, family, model_config, warn=lambda message: None)
    return settings


class DiffusionLM(LM):
    """Masked diffusion LMs decoded with parallel unmasking.

    `pretrained` is a hub id or local directory (a diffusion LLM of a family of `models/families.py`, any masked
    LM) or `ideal` for the item-level ideal model of the paper's Section 4. Decoding
    options given here are defaults that a request's gen_kwargs override. Every argument is
    described in `ModelSettings`; every check that needs no weights runs here, and the
    weights load only when the first batch is decoded.
    """

    def __init__(self, pretrained: str | None = None, **args):
        super().__init__()
        settings = ModelSettings.parse(pretrained=pretrained, **args)
        self.settings = settings
        self.decoding_defaults = settings.decoding_defaults
        self.batch_size = settings.batch_size
        self.max_batch_size = settings.max_batch_size
        self.max_gen_toks = settings.max_gen_toks
        self.seed = settings.seed
        self.pretrained = settings.pretrained

        self.accelerator = _data_parallel_accelerator(settings.device)
        if settings.parallelize and self.accelerator is not None:
            raise ValueError("parallelize=True spreads one copy of the model over every visible accelerator; under "
                             "accelerate launch (data parallel) each process loads its own copy: use one or the other")
        self._device = _resolve_device(settings.device, self.accelerator)
        self._rank = self.accelerator.process_index if self.accelerator else 0
        self._world_size = self.accelerator.num_processes if self.accelerator else 1

        if settings.is_ideal:
            from parallelbench_lmeval.ideal import IdealBackend

            self.backend = IdealBackend()
        else:
            from parallelbench_lmeval.models.transformer_backend import TransformerBackend, resolve_model_source

            source = resolve_model_source(settings)
            self.backend = TransformerBackend(settings, source, _resolve_dtype(settings.dtype, self._device), self._device)
        # the model's own decoding options, checked for its family before any request
        self._complete(DecodingConfig.from_options(gen_length=None, family=self.backend.family,
                                                   **request_decoding_options(self.decoding_defaults, {})))
        self.totals: Counter = Counter()
        self.decoding_used: list[dict] = []  # the run's effective decoding configurations (see `decoding_used`)
        self._fitting_batch_size: int | None = None  # batch_size=auto: the largest batch that fitted

    # ------------------------------------------------------------------ requests
    def request_config(self, gen_kwargs: dict) -> tuple[DecodingConfig, list[str], int]:
        """The decoding config, stop strings and seed of one request (model defaults < gen_kwargs)."""
        options = request_decoding_options(self.decoding_defaults, gen_kwargs)
        gen_length = gen_kwargs.get("max_gen_toks", self.max_gen_toks)
        config = self._complete(DecodingConfig.from_options(gen_length=gen_length, family=self.backend.family, **options))
        for note in config.clamping_notes():
            _log_once(logging.WARNING, note)
        until = gen_kwargs.get("until") or []
        until = [until] if isinstance(until, str) else list(until)
        seed = optional_int("seed", gen_kwargs.get("seed", self.seed))
        return config, until, seed

    def _complete(self, config: DecodingConfig) -> DecodingConfig:
        """What depends on the model: the top-k schedule and PC-Sampler's frequency table (the family's
        by default) and whether the model's layers can be cached; checked before the weights load."""
        config = with_family(config, self.backend.family, self.backend.config,
                             warn=lambda message: _log_once(logging.WARNING, message))
        if config.sampler == "pc" and config.value("pc_frequencies") is None:
            table = self.backend.default_pc_frequencies
            config = dataclasses.replace(config, parameters=tuple(sorted((*config.parameters, ("pc_frequencies", table)))))
        if config.sampler == "pc":
            check_table_name(config.value("pc_frequencies"))
        return config

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        # lm-eval sends a run's generation requests in one call: the totals cover that run
        self.totals = Counter()
        # every request's options are checked before the first forward pass (and before weights load)
        plans = [self.request_config(dict(request.args[1])) for request in requests]
        self.decoding_used = decoding_used(requests, [config for config, _, _ in plans])
        items = [(request.args[0], plan) for request, plan in zip(requests, plans)]
        by_length = Collator(
            items,
            sort_fn=lambda item: (-len(item[0]), item[0]),
            group_fn=lambda item: (item[1][0], tuple(item[1][1]), item[1][2]),
            group_by="gen_kwargs",
        )
        batch_size = self._batch_size(len(items))
        outputs = []
        progress = tqdm(total=len(items), disable=disable_tqdm or self.rank != 0, desc="dllm decoding")
        for batch in by_length.get_batched(n=batch_size):
            contexts = [context for context, _ in batch]
            config, until, seed = batch[0][1]
            generators = [self._request_generator(seed, context) for context in contexts]
            outputs.extend(self._generate_fitting(contexts, config, until, generators))
            progress.update(len(batch))
        progress.close()
        self._sum_totals_over_processes()
        return by_length.get_original(outputs)

    def _batch_size(self, requests: int) -> int:
        if self.settings.is_ideal:
            # the simulation decodes every row from its own generator: one batch of all the requests
            # gives batch_size=1's outputs, and costs little more than one row
            return max(requests, 1)
        if self.batch_size != "auto":
            return self.batch_size
        # on a CPU batches beyond 8 buy little (benchmarks/decoding.py); on a GPU, start large and
        # let _generate_fitting halve batches that do not fit
        if self._device.type == "cpu":
            size = min(self.max_batch_size, CPU_AUTO_BATCH_SIZE)
            _log_once(logging.INFO, f"batch_size=auto: decoding batches of {size} on the CPU")
        else:
            size = self.max_batch_size
            _log_once(logging.INFO, f"batch_size=auto: batches of up to {size} (max_batch_size), halved on out-of-memory")
        return size

    def _request_generator(self, seed: int, context: str) -> torch.Generator:
        """A generator seeded by the run's seed and the prompt: a request samples the same way
        whatever else shares its batch, and repeated prompts do not share their noise by rank."""
        return torch.Generator(self._device).manual_seed(stream_seed(str(seed), context))

    def _generate_fitting(self, contexts: list[str], config: DecodingConfig, until: list[str], generators) -> list[DecodedText]:
        """With batch_size=auto, a batch that runs out of accelerator memory is decoded in halves,
        and later batches start from the size that fitted."""
        fits = self._fitting_batch_size or len(contexts)
        if len(contexts) > fits:
            return [out for start in range(0, len(contexts), fits)
                    for out in self._generate_fitting(contexts[start : start + fits], config, until, generators[start : start + fits])]
        try:
            return self._generate_batch(contexts, config, until, generators)
        except torch.OutOfMemoryError:
            if self.batch_size != "auto" or len(contexts) == 1:
                raise
            if self._device.type == "cuda":
                torch.cuda.empty_cache()
            self._fitting_batch_size = len(contexts) // 2
            logger.warning("batch of %d did not fit in memory; decoding batches of %d", len(contexts), self._fitting_batch_size)
            return self._generate_fitting(contexts, config, until, generators)

    def _generate_batch(self, contexts: list[str], config: DecodingConfig, until: list[str], generators) -> list[DecodedText]:
        started = time.perf_counter()
        batch = self.backend.generate(contexts, config, generators)
        seconds = (time.perf_counter() - started) / len(contexts)
        outputs = []
        for text, nfe, gen_tokens, canvas_length, order in zip(*batch):
            for stop in until:
                if stop:
                    text = text.split(stop)[0]
            stats = {
                "nfe": nfe,
                "tokens_per_step": canvas_length / nfe,
                "gen_tokens": gen_tokens,
                "decode_seconds": seconds,
                **order,
            }
            self.totals.update({"samples": 1, "nfe": nfe, "gen_tokens": gen_tokens, "canvas_tokens": canvas_length})
            self.totals["decode_seconds"] += seconds
            outputs.append(DecodedText(text, stats))
        return outputs

    def _sum_totals_over_processes(self) -> None:
        if self.world_size <= 1:
            return
        keys = sorted(self.totals)
        local = torch.tensor([float(self.totals[k]) for k in keys], device=self._device, dtype=torch.float64)
        summed = self.accelerator.reduce(local, reduction="sum")
        self.totals = Counter({k: v if k == "decode_seconds" else int(v) for k, v in zip(keys, summed.tolist())})

    # ------------------------------------------------------------------ likelihood
    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """(log p(continuation | context), is_greedy) per request: LLaDA's Monte-Carlo ELBO estimate
        (`parallelbench_lmeval.likelihood`). is_greedy is checked only with check_greedy=true (one
        forward pass per answer token): whether confidence decoding, one token per step, writes the
        continuation, as LLaDA's evaluation defines it."""
        backend = self._likelihood_backend("loglikelihood")
        # every request is tokenized and checked before the first forward pass
        inputs = [backend.likelihood_inputs(*request.args) for request in requests]
        started = time.perf_counter()
        estimates = self._estimates(backend, [(("loglikelihood", *request.args), *ids)
                                              for request, ids in zip(requests, inputs)], disable_tqdm)
        greedy = [self.settings.check_greedy and backend.decodes_greedily(*ids) for ids in inputs]
        self._log_likelihood_cost("loglikelihood", len(requests), started)
        return [(estimate, bool(is_greedy)) for estimate, is_greedy in zip(estimates, greedy)]

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        """log p(text) per request: the ELBO estimates of lm-eval's disjoint rolling windows, summed."""
        backend = self._likelihood_backend("loglikelihood_rolling")
        windows = [backend.rolling_windows(request.args[0]) for request in requests]
        started = time.perf_counter()
        keyed = [(("loglikelihood_rolling", request.args[0], str(index)), prompt, answer, backend.special_suffix)
                 for request, document in zip(requests, windows) for index, (prompt, answer) in enumerate(document)]
        estimates = iter(self._estimates(backend, keyed, disable_tqdm))
        results = []
        for document in windows:
            total = 0.0
            for _ in document:
                total += next(estimates)
            results.append(total)
        self._log_likelihood_cost("loglikelihood_rolling", len(requests), started)
        return results

    def _likelihood_backend(self, request_type: str):
        if self.settings.is_ideal:
            raise NotImplementedError(
                f"pretrained=ideal decodes ParallelBench's list and puzzle tasks only; {request_type} needs a real model"
            )
        if self.backend.family_spec.block_causal:
            raise NotImplementedError(
                f"{request_type}: LLaDA's Monte-Carlo estimate assumes full bidirectional attention; the "
                f"{self.backend.family} family is a block-diffusion model, for which dllm has no likelihood yet"
            )
        return self.backend

    def _estimates(self, backend, keyed: list[tuple], disable_tqdm: bool) -> list[float]:
        """The estimate of each (key, prompt, answer, suffix): its masks drawn from a generator seeded
        by the seed and the key, so that it does not depend on the other requests; the masked
        copies of `batch_size` passes (of any requests) share a forward pass."""
        as_tensor = functools.partial(torch.tensor, dtype=torch.long, device=self._device)
        requests = []
        for key, prompt, answer, suffix in keyed:
            generator = torch.Generator().manual_seed(stream_seed(str(self.seed), *key))
            requests.append(Request(as_tensor(prompt), as_tensor(answer), as_tensor(suffix), generator))
        passes = self.settings.mc_num // self.settings.mc_batch_size
        progress = tqdm(total=passes * sum(1 for r in requests if r.answer.numel()), desc="dllm likelihood passes",
                        disable=disable_tqdm or self.rank != 0)
        with torch.no_grad():
            estimates = log_likelihoods(
                backend.logits_at, requests, self.settings.mc_num, self.settings.mc_batch_size, backend.mask_id,
                self.settings.cfg_scale, self._passes_per_forward(), on_forward=progress.update,
            )
        progress.close()
        return estimates

    def _passes_per_forward(self) -> int:
        """Passes (of mc_batch_size masked copies, twice that with guidance) per forward pass:
        batch_size; with batch_size=auto, 8 on a CPU (as for decoding), else as many as fill
        max_batch_size rows."""
        if self.batch_size != "auto":
            return self.batch_size
        if self._device.type == "cpu":
            return CPU_AUTO_BATCH_SIZE
        rows = self.settings.mc_batch_size * (2 if self.settings.cfg_scale > 0 else 1)
        return max(1, self.max_batch_size // rows)

    def _log_likelihood_cost(self, request_type: str, count: int, started: float) -> None:
        rows = self.settings.mc_batch_size * (2 if self.settings.cfg_scale > 0 else 1)
        logger.info(
            "%s: %d requests, forward passes of up to %d passes of %d rows (mc_num=%d, mc_batch_size=%d, "
            "cfg_scale=%g), %.1f s", request_type, count, self._passes_per_forward(), rows, self.settings.mc_num,
            self.settings.mc_batch_size, self.settings.cfg_scale, time.perf_counter() - started,
        )

    # ------------------------------------------------------------------ chat templates
    @property
    def tokenizer_name(self) -> str:
        tokenizer = getattr(self.backend, "tokenizer", None)
        return tokenizer.name_or_path.replace("/", "__") if tokenizer is not None else self.pretrained

    def chat_template(self, chat_template: bool | str = False) -> str | None:
        tokenizer = getattr(self.backend, "tokenizer", None)
        if isinstance(chat_template, str):
            return chat_template
        return getattr(tokenizer, "chat_template", None) if chat_template else None

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        return self.backend.apply_chat_template(chat_history, add_generation_prompt)

    # ------------------------------------------------------------------ data parallel
    def all_gather(self, tensor):
        return tensor if self.world_size <= 1 else self.accelerator.gather(tensor)

    def gather_object(self, obj, dst: int = 0):
        if self.world_size <= 1:
            return [obj]
        gathered = [None] * self.world_size if self.rank == dst else None
        torch.distributed.gather_object(obj=obj, object_gather_list=gathered, dst=dst)
        return gathered

    def barrier(self) -> None:
        if self.world_size > 1:
            self.accelerator.wait_for_everyone()

    # ------------------------------------------------------------------ reporting
    def get_model_info(self) -> dict:
        """Written to the results JSON: the engine's setup and the run's totals over all processes."""
        totals = dict(self.totals)
        if totals.get("nfe"):
            # not the tasks' `tokens_per_step` metric (a mean of per-sample ratios, which the leaderboard uses)
            totals["pooled_tokens_per_step"] = totals["canvas_tokens"] / totals["nfe"]
        return {
            "dllm": {
                "package_version": __version__,
                "pretrained": self.pretrained,
                "decoding_defaults": self.decoding_defaults,
                "decoding": self.decoding_used,
                "seed": self.seed,
                "world_size": self.world_size,
                **self.backend.describe(),
            },
            "dllm_totals": totals,
        }
