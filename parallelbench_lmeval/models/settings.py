"""The `dllm` model's arguments, parsed and checked before anything is read from disk or the hub.

`ModelSettings.parse` takes what lm-eval passes to the model (strings from `--model_args`,
plus `batch_size`, `max_batch_size` and `device` from its own flags) and refuses every bad
value with a message naming it and the allowed ones. It reads no file, so the same check
runs before lm-eval indexes its tasks (see `registration.check_model_args_early`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from parallelbench_lmeval.decoding.config import DECODING_OPTIONS, SAMPLER_PARAMETERS, DecodingConfig, own_sampler_options
from parallelbench_lmeval.errors import did_you_mean
from parallelbench_lmeval.models.families import FAMILIES
from parallelbench_lmeval.options import as_bool, as_float, as_int, is_unset, non_negative_int, positive_int

IDEAL = "ideal"
DTYPES = ("auto", "bfloat16", "float16", "float32")
AUTO = "auto"


def _batch_size(name: str, value) -> int | str:
    if str(value).strip().lower() == AUTO:
        return AUTO
    try:
        return positive_int(name, value)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer or 'auto', got {value!r}") from None


def _text(name: str, value) -> str:
    return str(value)


def _non_negative_float(name: str, value) -> float:
    number = as_float(name, value)
    if number < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return number


def _choice(name: str, value, allowed) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}{did_you_mean(value, allowed)}; allowed: {', '.join(allowed)}")
    return value


def check_decoding_defaults(decoding: dict) -> None:
    """Decoding options given to the model. Options of a sampler other than the model's own are
    defaults for the requests that run that sampler (`pc_frequencies=uniform` in `--model_args` of a
    sweep with `--grid pc`): each is checked with its own sampler."""
    sampler = str(decoding.get("sampler") or "standard")
    DecodingConfig.from_options(gen_length=None, **own_sampler_options(decoding, sampler))
    for name in sorted(set(decoding) - set(own_sampler_options(decoding, sampler))):
        DecodingConfig.from_options(gen_length=None, sampler=SAMPLER_PARAMETERS[name], **{name: decoding[name]})


@dataclass(frozen=True)
class ModelSettings:
    pretrained: str
    revision: str | None = None
    tokenizer: str | None = None
    trust_remote_code: bool = False
    dtype: str = "auto"
    device: str | None = None
    # spread the layers over every visible accelerator (accelerate's device_map="auto"), as lm-eval's hf model
    parallelize: bool = False
    batch_size: int | str = 1
    max_batch_size: int = 64
    family: str | None = None
    mask_id: int | None = None
    eos_id: int | None = None
    eot_id: int | None = None
    chat_template: str | None = None
    max_gen_toks: int = 256
    max_length: int | None = None
    add_special_tokens: bool | None = None
    suppress_eos: bool = False
    seed: int = 0
    # loglikelihood: LLaDA's Monte-Carlo estimate (masked copies, copies per forward pass, guidance)
    mc_num: int = 128
    mc_batch_size: int = 32
    cfg_scale: float = 0.0
    check_greedy: bool = False
    # decoding options given to the model: defaults that a request's gen_kwargs override
    decoding_defaults: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, pretrained=None, **args) -> ModelSettings:
        """Settings from lm-eval's arguments; raises ValueError on any unknown or bad value."""
        if is_unset(pretrained):
            raise ValueError("dllm needs pretrained=<hub id or local model folder> (or pretrained=ideal)")
        names = {f.name for f in dataclasses.fields(cls)} - {"pretrained", "decoding_defaults"}
        unknown = set(args) - names - set(DECODING_OPTIONS)
        if unknown:
            raise ValueError(
                f"unknown dllm option(s) {sorted(unknown)}{did_you_mean(sorted(unknown), [*sorted(names), *DECODING_OPTIONS])}; "
                f"model options allowed: {', '.join(sorted(names))}; "
                f"decoding options allowed: {', '.join(DECODING_OPTIONS)}"
            )
        decoding = {k: v for k, v in args.items() if k in DECODING_OPTIONS and not is_unset(v)}
        check_decoding_defaults(decoding)
        given = {k: v for k, v in args.items() if k in names and not is_unset(v)}
        parsers = {
            "revision": _text, "tokenizer": _text, "chat_template": _text, "device": _text,
            "trust_remote_code": as_bool, "add_special_tokens": as_bool, "suppress_eos": as_bool, "parallelize": as_bool,
            "dtype": lambda name, value: _choice(name, str(value), DTYPES),
            "family": lambda name, value: _choice("family", str(value), FAMILIES),
            "batch_size": _batch_size,
            "max_batch_size": positive_int, "max_gen_toks": positive_int, "max_length": positive_int,
            "mask_id": non_negative_int, "eos_id": non_negative_int, "eot_id": non_negative_int,
            "seed": as_int,
            "mc_num": positive_int, "mc_batch_size": positive_int, "check_greedy": as_bool,
            "cfg_scale": _non_negative_float,
        }
        parsed = {name: parsers[name](name, value) for name, value in given.items()}
        settings = cls(pretrained=str(pretrained), decoding_defaults=decoding, **parsed)
        if settings.mc_num % settings.mc_batch_size:
            raise ValueError(
                f"mc_num={settings.mc_num} is not a multiple of mc_batch_size={settings.mc_batch_size} "
                f"(masked copies per forward pass); allowed mc_batch_size: "
                f"{', '.join(str(d) for d in range(1, settings.mc_num + 1) if settings.mc_num % d == 0)}"
            )
        return settings

    @property
    def is_ideal(self) -> bool:
        return self.pretrained == IDEAL

    @property
    def special_id_overrides(self) -> dict[str, int | None]:
        return {"mask_id": self.mask_id, "eos_id": self.eos_id, "eot_id": self.eot_id}
