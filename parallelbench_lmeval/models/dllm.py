"""`--model dllm`: lm-eval plumbing around the unmasking loop (options, batching, statistics)."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter

import torch
from lm_eval.api.model import LM
from lm_eval.models.utils import Collator
from tqdm import tqdm

from parallelbench_lmeval.decoding import DecodingConfig
from parallelbench_lmeval.decoding.config import optional_int
from parallelbench_lmeval.stats import DecodedText

logger = logging.getLogger(__name__)

DECODING_OPTIONS = ("unmasking", "k", "steps", "block_length", "threshold", "factor", "temperature")
# what a request's gen_kwargs may hold: lm-eval's own keys plus ours
REQUEST_OPTIONS = ("until", "max_gen_toks", "do_sample", *DECODING_OPTIONS, "seed")
IDEAL = "ideal"
CPU_AUTO_BATCH_SIZE = 8


def _as_bool(name: str, value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def _parse_batch_size(value) -> int | str:
    text = str(value)
    if text.startswith("auto"):
        return "auto"
    if not text.isdigit() or int(text) == 0:
        raise ValueError(f"batch_size must be a positive integer or 'auto', got {value!r}")
    return int(text)


def _resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    allowed = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
    if dtype not in allowed:
        raise ValueError(f"unknown dtype {dtype!r}; allowed: auto, {', '.join(allowed)}")
    return allowed[dtype]


def _resolve_device(device: str | None, accelerator) -> torch.device:
    if accelerator is not None:
        return accelerator.device
    wanted = torch.device(device or "cuda:0")
    if wanted.type == "cuda" and not torch.cuda.is_available():
        logger.warning("device %s is not available; decoding on the CPU", wanted)
        return torch.device("cpu")
    return wanted


def _data_parallel_accelerator(device: str | None):
    """An Accelerator when launched on several processes (accelerate launch / torchrun)."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    from accelerate import Accelerator

    on_cpu = str(device or "").startswith("cpu") or not torch.cuda.is_available()
    accelerator = Accelerator(cpu=on_cpu)
    return accelerator if accelerator.num_processes > 1 else None


class DiffusionLM(LM):
    """Masked diffusion LMs decoded with parallel unmasking.

    `pretrained` is a hub id or local directory (LLaDA, Dream, DiffuCoder, any masked
    LM) or `ideal` for the item-level ideal model of the paper's Section 4. Decoding
    options given here are defaults that a request's gen_kwargs override.
    """

    def __init__(
        self,
        pretrained: str,
        revision: str | None = None,
        dtype: str = "auto",
        device: str | None = None,
        trust_remote_code: bool | str = True,
        batch_size: int | str = 1,
        max_batch_size: int | str = 64,
        family: str | None = None,
        mask_id: int | str | None = None,
        eos_id: int | str | None = None,
        eot_id: int | str | None = None,
        tokenizer: str | None = None,
        chat_template: str | None = None,
        max_gen_toks: int | str = 256,
        max_length: int | str | None = None,
        add_special_tokens: bool | str | None = None,
        suppress_eos: bool | str = False,
        seed: int | str = 0,
        **decoding_options,
    ):
        super().__init__()
        unknown = set(decoding_options) - set(DECODING_OPTIONS)
        if unknown:
            raise ValueError(
                f"unknown dllm option(s) {sorted(unknown)}; decoding options allowed: {', '.join(DECODING_OPTIONS)}"
            )
        # every check that needs no weights runs here, before anything is loaded
        self.decoding_defaults = {k: v for k, v in decoding_options.items() if v is not None}
        DecodingConfig.from_options(gen_length=None, **self.decoding_defaults)
        self.batch_size = _parse_batch_size(batch_size)
        self.max_batch_size = optional_int("max_batch_size", max_batch_size)
        self.max_gen_toks = optional_int("max_gen_toks", max_gen_toks)
        self.seed = optional_int("seed", seed)
        self.pretrained = pretrained

        self.accelerator = _data_parallel_accelerator(device)
        self._device = _resolve_device(device, self.accelerator)
        self._rank = self.accelerator.process_index if self.accelerator else 0
        self._world_size = self.accelerator.num_processes if self.accelerator else 1

        if pretrained == IDEAL:
            from parallelbench_lmeval.ideal import IdealBackend

            self.backend = IdealBackend()
        else:
            from parallelbench_lmeval.models.transformer_backend import TransformerBackend

            self.backend = TransformerBackend(
                pretrained=pretrained,
                revision=revision,
                dtype=_resolve_dtype(dtype, self._device),
                device=self._device,
                trust_remote_code=_as_bool("trust_remote_code", trust_remote_code),
                family=family,
                special_id_overrides={
                    "mask_id": optional_int("mask_id", mask_id),
                    "eos_id": optional_int("eos_id", eos_id),
                    "eot_id": optional_int("eot_id", eot_id),
                },
                tokenizer=tokenizer,
                chat_template=chat_template,
                max_length=optional_int("max_length", max_length),
                add_special_tokens=None if add_special_tokens is None else _as_bool("add_special_tokens", add_special_tokens),
                suppress_eos=_as_bool("suppress_eos", suppress_eos),
            )
        self.totals: Counter = Counter()
        self._fitting_batch_size: int | None = None  # batch_size=auto: the largest batch that fitted

    # ------------------------------------------------------------------ requests
    def request_config(self, gen_kwargs: dict) -> tuple[DecodingConfig, list[str], int]:
        """The decoding config, stop strings and seed of one request (model defaults < gen_kwargs)."""
        unknown = set(gen_kwargs) - set(REQUEST_OPTIONS)
        if unknown:
            raise ValueError(f"unknown gen_kwargs {sorted(unknown)} for dllm; allowed: {', '.join(REQUEST_OPTIONS)}")
        options = {**self.decoding_defaults}
        options.update({k: v for k, v in gen_kwargs.items() if k in DECODING_OPTIONS and v is not None})
        # tasks declare greedy decoding (temperature 0): a sampling temperature given to the model still applies
        if not float(gen_kwargs.get("temperature") or 0) and "temperature" in self.decoding_defaults:
            options["temperature"] = self.decoding_defaults["temperature"]
        gen_length = gen_kwargs.get("max_gen_toks", self.max_gen_toks)
        config = DecodingConfig.from_options(gen_length=gen_length, **options)
        until = gen_kwargs.get("until") or []
        until = [until] if isinstance(until, str) else list(until)
        seed = optional_int("seed", gen_kwargs.get("seed", self.seed))
        return config, until, seed

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        # lm-eval sends a run's generation requests in one call: the totals cover that run
        self.totals = Counter()
        # every request's options are checked before the first forward pass (and before weights load)
        plans = [self.request_config(dict(request.args[1])) for request in requests]
        items = [(request.args[0], plan) for request, plan in zip(requests, plans)]
        by_length = Collator(
            items,
            sort_fn=lambda item: (-len(item[0]), item[0]),
            group_fn=lambda item: (item[1][0], tuple(item[1][1]), item[1][2]),
            group_by="gen_kwargs",
        )
        batch_size = self._batch_size()
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

    def _batch_size(self) -> int:
        if self.batch_size != "auto":
            return self.batch_size
        # on a CPU batches beyond 8 buy little (benchmarks/decoding.py); on a GPU, start large and
        # let _generate_fitting halve batches that do not fit
        limit = self.max_batch_size or 64
        return min(limit, CPU_AUTO_BATCH_SIZE) if self._device.type == "cpu" else limit

    def _request_generator(self, seed: int, context: str) -> torch.Generator:
        """A generator seeded by the run's seed and the prompt: a request samples the same way
        whatever else shares its batch, and repeated prompts do not share their noise by rank."""
        digest = hashlib.blake2b(f"{seed}\0{context}".encode(), digest_size=8).digest()
        return torch.Generator(self._device).manual_seed(int.from_bytes(digest, "little") >> 1)

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
        for text, nfe, gen_tokens, canvas_length in zip(*batch):
            for stop in until:
                if stop:
                    text = text.split(stop)[0]
            stats = {
                "nfe": nfe,
                "tokens_per_step": canvas_length / nfe,
                "gen_tokens": gen_tokens,
                "decode_seconds": seconds,
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

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError(
            "dllm decodes by parallel unmasking and scores generations only (generate_until tasks such as "
            "parallelbench). For loglikelihood tasks use `--model hf` with an autoregressive model."
        )

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError(
            "dllm has no rolling loglikelihood; use `--model hf` with an autoregressive model for perplexity tasks."
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
            totals["tokens_per_step"] = totals["canvas_tokens"] / totals["nfe"]
        return {
            "dllm": {
                "pretrained": self.pretrained,
                "decoding_defaults": self.decoding_defaults,
                "seed": self.seed,
                "world_size": self.world_size,
                **self.backend.describe(),
            },
            "dllm_totals": totals,
        }
