"""Decoding options: parsing from lm-eval's strings and validation, before any model is loaded.

A configuration names a `sampler` (how a block is decoded) and its options:

- `standard` (the paper's strategies): a score (`unmasking`) orders the masked positions;
  `k`/`steps` fix how many are committed per step, `threshold`/`factor` make it adaptive;
- `eb` (EB-Sampler) and `pc` (PC-Sampler): the standard loop with an entropy-bounded
  selection, or a position-aware calibrated score;
- `wino`, `slowfast`, `klass`, `dus`, `rcr`, `remdm`, `edit`: the methods of their own modules in
  `decoding/samplers/`, each with the options and defaults of its reference implementation.

`block_length` cuts the canvas into semi-autoregressive blocks for every sampler.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from parallelbench_lmeval.decoding.scores import SCORES
from parallelbench_lmeval.errors import did_you_mean
from parallelbench_lmeval.options import as_float, as_int, optional, optional_int

LEFT_TO_RIGHT = "left_to_right"
UNMASKING_CHOICES = (*SCORES, LEFT_TO_RIGHT)
WINO_CANVASES = ("extended", "plain")
CACHE_MODES = ("none", "prefix", "dual")
# how a fixed (top-k) schedule spreads a block's tokens over its steps (decoding/schedule.py)
SCHEDULES = ("even", "dream")
SCHEDULED_SAMPLERS = ("standard", "pc")  # the samplers whose top-k counts follow `schedule`
# `compat=parallelbench`: the benchmark's released code, deliberate differences included (docs/equivalence.md)
COMPAT_MODES = ("none", "parallelbench")
# samplers that change tokens outside the current block, which a cache of the other positions would miss
UNCACHEABLE_SAMPLERS = ("rcr",)
# samplers whose steps depend on the model's predictions (their own adaptive rules)
ADAPTIVE_SAMPLERS = ("eb", "wino", "slowfast", "klass", "edit")


def _text(name: str, value) -> str:
    return str(value)


def _in_unit_interval(name: str, value: float) -> str | None:
    return None if 0 <= value <= 1 else f"{name} must lie in [0, 1], got {value}"


def _positive(name: str, value: float) -> str | None:
    return None if value > 0 else f"{name} must be positive, got {value}"


def _non_negative(name: str, value: float) -> str | None:
    return None if value >= 0 else f"{name} must be >= 0, got {value}"


def _at_least(minimum: int) -> Callable[[str, int], str | None]:
    return lambda name, value: None if value >= minimum else f"{name} must be an integer >= {minimum}, got {value}"


def _one_of(choices: tuple[str, ...]) -> Callable[[str, str], str | None]:
    return lambda name, value: (None if value in choices
                                else f"unknown {name} {value!r}{did_you_mean(value, choices)}; allowed: {', '.join(choices)}")


@dataclass(frozen=True)
class Parameter:
    """An option of one sampler: its reference default, parser and check."""

    default: object
    parse: Callable = as_float
    check: Callable | None = None


@dataclass(frozen=True)
class SamplerSpec:
    parameters: dict[str, Parameter]
    # standard options the sampler reads: "schedule" (k or steps), "rule" (threshold/factor)
    takes: frozenset[str]
    unmasking: tuple[str, ...]  # the scores it can order positions by
    default_steps_per_token: bool = False  # no k/steps given: one token per step (its fallback schedule)


SAMPLERS: dict[str, SamplerSpec] = {
    "standard": SamplerSpec({}, frozenset({"schedule", "rule"}), UNMASKING_CHOICES),
    # EB-Sampler (Ben-Hamu et al., 2025): gamma in nats; 0.01 as in PC-Sampler's EB scripts
    "eb": SamplerSpec({"eb_gamma": Parameter(0.01, check=_non_negative)}, frozenset(), tuple(SCORES)),
    # PC-Sampler (Huang et al., 2025): lambda 0.25 and alpha 10 as in its evaluation scripts
    "pc": SamplerSpec(
        {
            "pc_lambda": Parameter(0.25, check=_non_negative),
            "pc_alpha": Parameter(10.0, check=_positive),
            "pc_frequencies": Parameter(None, parse=_text),
        },
        frozenset({"schedule"}),
        ("confidence", "random"),
    ),
    # WINO (Hong et al., 2025): thresholds of WINO-DLLM's decoding.py
    "wino": SamplerSpec(
        {
            "wino_threshold": Parameter(0.6, check=_in_unit_interval),
            "wino_threshold_back": Parameter(0.9, check=_in_unit_interval),
            "wino_canvas": Parameter("extended", parse=_text, check=_one_of(WINO_CANVASES)),
        },
        frozenset(),
        ("confidence",),
    ),
    # SlowFast sampling (Wei et al., 2025): defaults of its reference and of ParallelBench
    "slowfast": SamplerSpec(
        {
            "sf_exploration_steps": Parameter(6, parse=as_int, check=_at_least(1)),
            "sf_cycle_confidence_threshold": Parameter(0.3, check=_in_unit_interval),
            "sf_high_confidence_threshold": Parameter(0.9, check=_in_unit_interval),
        },
        frozenset(),
        ("confidence",),
    ),
    # KLASS (Kim et al., 2025): ParallelBench's defaults
    "klass": SamplerSpec(
        {
            "klass_conf_threshold": Parameter(0.9, check=_in_unit_interval),
            "klass_kl_threshold": Parameter(0.01, check=_non_negative),
            "klass_kl_history": Parameter(2, parse=as_int, check=_at_least(1)),
        },
        frozenset({"schedule"}),
        ("confidence",),
        default_steps_per_token=True,
    ),
    # DUS (Luxembourg et al., 2025): base 2, remasking threshold 0.3
    "dus": SamplerSpec(
        {
            "dus_base": Parameter(2, parse=as_int, check=_at_least(2)),  # base 1 would decode a block in one step
            "dus_remasking_threshold": Parameter(0.3, check=_in_unit_interval),
        },
        frozenset(),
        ("confidence",),
    ),
    # RCR (He et al., 2025): running-confidence remasking on a linear MaskGIT schedule
    "rcr": SamplerSpec({}, frozenset({"schedule"}), ("confidence",), default_steps_per_token=True),
    # ReMDM for LLaDA as the paper ran it: n revision steps of k tokens each (k = n = 1 in Appendix F.3)
    "remdm": SamplerSpec(
        {
            "remdm_steps": Parameter(1, parse=as_int, check=_at_least(0)),
            "remdm_number": Parameter(1, parse=as_int, check=_at_least(1)),
        },
        frozenset({"schedule"}),
        ("confidence",),
        default_steps_per_token=True,
    ),
    # LLaDA2.1's editing (its `generate`): unmask above a threshold (at least the best), and replace committed
    # tokens of the block the model now predicts otherwise, above the editing threshold; defaults of LLaDA2.1
    "edit": SamplerSpec(
        {
            "edit_unmask_threshold": Parameter(0.95, check=_in_unit_interval),
            "edit_threshold": Parameter(0.9, check=_in_unit_interval),
            "edit_max_post_steps": Parameter(16, parse=as_int, check=_at_least(0)),
        },
        frozenset(),
        ("confidence",),
    ),
}
SAMPLER_PARAMETERS = {name: sampler for sampler, spec in SAMPLERS.items() for name in spec.parameters}


def own_sampler_options(options: dict, sampler: str) -> dict:
    """`options` without the options of samplers other than `sampler` (a model's defaults for them)."""
    return {name: value for name, value in options.items() if SAMPLER_PARAMETERS.get(name, sampler) == sampler}


@dataclass(frozen=True)
class DecodingConfig:
    """How to unmask a canvas of `gen_length` masks.

    `k` (tokens per step) or `steps` fixes the schedule; `threshold` or `factor` makes it
    adaptive (each step then commits at least one token, as many as the rule allows).
    `block_length` cuts the canvas into semi-autoregressive blocks decoded left to right.
    `gen_length` is None while the length is not known yet (options given to the model
    before any request): the checks that need it run again once it is set. `parameters`
    holds the sampler's own options as given (`value` adds the sampler's defaults).
    """

    gen_length: int | None
    unmasking: str = "confidence"
    k: int | None = None
    steps: int | None = None
    block_length: int | None = None
    threshold: float | None = None
    factor: float | None = None
    temperature: float = 0.0
    sampler: str = "standard"
    cache: str = "none"
    cache_refresh: int = 0
    # None: the model family's (`default_schedule`); `dream_eps` is the last timestep of `dream`
    schedule: str | None = None
    dream_eps: float | None = None
    compat: str = "none"
    # the model family decoded (`with_family_defaults`): what compat reproduces can depend on it
    family: str | None = None
    parameters: tuple[tuple[str, object], ...] = ()

    @classmethod
    def from_options(cls, family: str | None = None, **options) -> DecodingConfig:
        """Builds a config from strings or numbers (as `--model_args`/`--gen_kwargs` give them);
        `family`, where known, decides the checks that depend on it."""
        fields = {f.name for f in dataclasses.fields(cls)} - {"parameters", "family"}
        unknown = set(options) - fields - set(SAMPLER_PARAMETERS)
        if unknown:
            raise ValueError(f"unknown decoding option(s) {sorted(unknown)}{did_you_mean(sorted(unknown), DECODING_OPTIONS)}; "
                             f"allowed: {', '.join(DECODING_OPTIONS)}")
        sampler = str(options.get("sampler") or "standard")
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}{did_you_mean(sampler, SAMPLERS)}; allowed: {', '.join(SAMPLERS)}")
        parameters = []
        for name in sorted(set(options) & set(SAMPLER_PARAMETERS)):
            if options[name] is None or options[name] == "":
                continue
            if SAMPLER_PARAMETERS[name] != sampler:
                raise ValueError(f"{name} is an option of sampler={SAMPLER_PARAMETERS[name]}, not of sampler={sampler}")
            parameters.append((name, SAMPLERS[sampler].parameters[name].parse(name, options[name])))
        config = cls(
            gen_length=optional_int("gen_length", options.get("gen_length")),
            unmasking=str(options.get("unmasking") or "confidence"),
            k=optional_int("k", options.get("k")),
            steps=optional_int("steps", options.get("steps")),
            block_length=optional_int("block_length", options.get("block_length")),
            threshold=optional(as_float, "threshold", options.get("threshold")),
            factor=optional(as_float, "factor", options.get("factor")),
            temperature=optional(as_float, "temperature", options.get("temperature")) or 0.0,
            sampler=sampler,
            cache=str(options.get("cache") or "none"),
            cache_refresh=optional_int("cache_refresh", options.get("cache_refresh")) or 0,
            schedule=optional(_text, "schedule", options.get("schedule")),
            dream_eps=optional(as_float, "dream_eps", options.get("dream_eps")),
            compat=str(options.get("compat") or "none"),
            family=family,
            parameters=tuple(parameters),
        )
        config.validate()
        return config

    def effective_options(self) -> dict:
        """Every field and every option of the sampler, defaults resolved: what decoded (for the results JSON)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "parameters"}
        return {**fields, **{name: self.value(name) for name in self.spec.parameters}}

    @property
    def spec(self) -> SamplerSpec:
        return SAMPLERS[self.sampler]

    def validate(self) -> None:
        spec = self.spec
        if self.unmasking not in UNMASKING_CHOICES:
            raise ValueError(f"unknown unmasking strategy {self.unmasking!r}{did_you_mean(self.unmasking, UNMASKING_CHOICES)}; "
                             f"allowed: {', '.join(UNMASKING_CHOICES)}")
        if self.unmasking not in spec.unmasking:
            raise ValueError(
                f"sampler={self.sampler} orders positions by {' or '.join(spec.unmasking)}; "
                f"got unmasking={self.unmasking}"
            )
        for name, value in self.parameters:
            check = spec.parameters[name].check
            problem = check(name, value) if check else None
            if problem:
                raise ValueError(problem)
        if self.cache not in CACHE_MODES:
            raise ValueError(f"unknown cache {self.cache!r}{did_you_mean(self.cache, CACHE_MODES)}; allowed: {', '.join(CACHE_MODES)}")
        if self.cache_refresh < 0:
            raise ValueError(f"cache_refresh must be >= 0 (0: at block boundaries only), got {self.cache_refresh}")
        if self.cache_refresh and self.cache == "none":
            raise ValueError("cache_refresh applies to cache=prefix or cache=dual")
        if self.schedule is not None:
            if self.schedule not in SCHEDULES:
                raise ValueError(f"unknown schedule {self.schedule!r}; allowed: {', '.join(SCHEDULES)}")
            if not self.fixed_top_k:
                raise ValueError(
                    f"schedule={self.schedule} spreads the tokens of top-k decoding (k or steps, or one token per "
                    f"step) with sampler={' or '.join(SCHEDULED_SAMPLERS)}; this configuration has no such schedule"
                )
        if self.dream_eps is not None:
            if not 0 <= self.dream_eps < 1:
                raise ValueError(f"dream_eps must lie in [0, 1), got {self.dream_eps}")
            if self.schedule not in (None, "dream"):  # None: the family's, checked in `with_family_defaults`
                raise ValueError(f"dream_eps is the last timestep of schedule=dream; got schedule={self.schedule}")
        if self.compat not in COMPAT_MODES:
            raise ValueError(f"unknown compat {self.compat!r}; allowed: {', '.join(COMPAT_MODES)}")
        if self.compat == "parallelbench" and self.sampler == "wino" and dict(self.parameters).get("wino_canvas") == "extended":
            raise ValueError("compat=parallelbench runs the benchmark's WINO (wino_canvas=plain); "
                             "wino_canvas=extended is WINO-DLLM's: drop one of them")
        if self.cache != "none" and self.sampler in UNCACHEABLE_SAMPLERS:
            raise ValueError(f"sampler={self.sampler} changes tokens outside the current block: use cache=none")
        if self.gen_length is not None and self.gen_length <= 0:
            raise ValueError(f"gen_length must be a positive integer, got {self.gen_length}")
        if self.k is not None and self.steps is not None:
            raise ValueError(f"give either k (tokens per step) or steps, not both (got k={self.k}, steps={self.steps})")
        if self.k is not None and self.k <= 0:
            raise ValueError(f"k (tokens per step) must be a positive integer, got {self.k}")
        if self.steps is not None and self.steps <= 0:
            raise ValueError(f"steps must be a positive integer, got {self.steps}")
        if (self.k is not None or self.steps is not None) and "schedule" not in spec.takes:
            raise ValueError(f"sampler={self.sampler} decides how many tokens each step commits; drop k/steps")
        if (self.threshold is not None or self.factor is not None) and "rule" not in spec.takes:
            raise ValueError(f"sampler={self.sampler} has its own selection rule; drop threshold/factor")
        if self.threshold is not None and self.factor is not None:
            raise ValueError(
                f"threshold and factor are two different adaptive rules; give one "
                f"(got threshold={self.threshold}, factor={self.factor})"
            )
        if self.threshold is not None:
            if self.unmasking == "entropy" and self.threshold > 0:
                # the released rule compares the score itself, and sum p log p is never positive
                raise ValueError(
                    f"with unmasking=entropy the score is the negative entropy (<= 0): threshold must be <= 0 "
                    f"(e.g. -0.5 commits positions whose entropy is at most 0.5 nats), got {self.threshold}"
                )
            if self.unmasking != "entropy" and not 0 < self.threshold <= 1:
                raise ValueError(f"threshold must lie in (0, 1], got {self.threshold}")
        if self.factor is not None and self.factor <= 0:
            raise ValueError(f"factor must be positive, got {self.factor}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.sampler == "standard" and self.adaptive and (self.k is not None or self.steps is not None):
            rule = "threshold" if self.threshold is not None else "factor"
            raise ValueError(f"{rule} decides how many tokens each step commits; drop k/steps (got k={self.k}, steps={self.steps})")
        if self.unmasking == LEFT_TO_RIGHT:
            if self.adaptive:
                raise ValueError("left_to_right commits whole blocks of k tokens; it takes no threshold or factor")
            if self.block_length is not None or self.steps is not None:
                raise ValueError("left_to_right uses blocks of length k, one step each: give k only")
        if self.block_length is not None:
            if self.block_length <= 0:
                raise ValueError(f"block_length must be a positive integer, got {self.block_length}")
            if self.gen_length is not None and self.gen_length % self.block_length and self.family not in UNTILED_BLOCK_FAMILIES:
                raise ValueError(
                    f"block_length={self.block_length} does not divide the generation length {self.gen_length}; "
                    f"allowed: {', '.join(str(d) for d in range(1, self.gen_length + 1) if self.gen_length % d == 0)}"
                )
            if self.gen_length is not None and self.steps is not None and self.steps % self.num_blocks:
                raise ValueError(
                    f"steps={self.steps} cannot be split evenly over {self.num_blocks} blocks of length {self.block_length}"
                )

    @property
    def adaptive(self) -> bool:
        """Whether the number of steps depends on the model's predictions (no fixed schedule)."""
        if self.sampler == "standard":
            return self.threshold is not None or self.factor is not None
        return self.sampler in ADAPTIVE_SAMPLERS

    @property
    def fixed_top_k(self) -> bool:
        """Whether a block's steps commit fixed counts of the best-scored positions (what `schedule` shapes)."""
        return self.sampler in SCHEDULED_SAMPLERS and not self.adaptive and self.unmasking != LEFT_TO_RIGHT

    @property
    def score(self) -> str:
        """The score that orders positions (left-to-right commits whole blocks, so any score will do)."""
        return "confidence" if self.unmasking == LEFT_TO_RIGHT else self.unmasking

    @property
    def mask_normalised(self) -> bool:
        """Whether the mask token's probability counts in the softmax's normalisation (and is then set
        to 0, so that a step's probabilities sum to less than one): compat on Dream, whose reference
        patches no logits."""
        return self.compat == "parallelbench" and self.family == "dream"

    @property
    def block_size(self) -> int:
        if self.unmasking == LEFT_TO_RIGHT:
            return min(self.k or 1, self.gen_length) if self.gen_length else self.k or 1
        return self.block_length or self.gen_length

    @property
    def num_blocks(self) -> int:
        return -(-self.gen_length // self.block_size)

    def steps_per_block(self) -> int | None:
        """Steps per block of a fixed schedule (k or steps given, or the sampler's one-per-token default)."""
        if self.steps is not None:
            return max(1, self.steps // self.num_blocks)
        if self.k is not None:
            return -(-self.block_size // self.k)
        return self.block_size if self.spec.default_steps_per_token else None

    def clamping_notes(self) -> list[str]:
        """What the schedule changes in the options given: a `k` or `steps` beyond the tokens
        there are to decode is clamped (documented in the README), and the user is told so."""
        notes = []
        if self.steps is not None and self.steps // self.num_blocks > self.block_size:
            notes.append(
                f"steps={self.steps} is more than the {self.gen_length} tokens to decode: "
                f"decoding one token per step ({self.gen_length} steps)"
            )
        if self.k is not None and self.k > self.block_size and self.unmasking != LEFT_TO_RIGHT:
            notes.append(
                f"k={self.k} is more than the {self.block_size} tokens of a block: each block is decoded in one step"
            )
        if self.unmasking == LEFT_TO_RIGHT and self.k is not None and self.k > self.gen_length:
            notes.append(f"k={self.k} is more than the {self.gen_length} tokens to decode: decoding them in one step")
        return notes

    def with_family_defaults(self, family: str) -> DecodingConfig:
        """The options whose default depends on the model family, resolved (see `default_schedule`)."""
        schedule = self.schedule
        if schedule is None and self.fixed_top_k:
            schedule = default_schedule(family)
        if self.dream_eps is not None and schedule != "dream":
            raise ValueError(f"dream_eps is the last timestep of schedule=dream, which top-k decoding of the dream family "
                             f"uses by default; this configuration of the {family} family decodes "
                             f"{'with schedule=' + schedule if schedule else 'without a top-k schedule'}")
        if self.compat == "parallelbench" and schedule is not None and schedule != default_schedule(family):
            raise ValueError(f"compat=parallelbench decodes {family} top-k on schedule={default_schedule(family)}, "
                             f"as the benchmark's code; got schedule={schedule}")
        if self.compat == "parallelbench" and family == "dream" and self.sampler == "klass" and self.block_length:
            raise ValueError("compat=parallelbench runs the benchmark's KLASS for Dream, which decodes the whole "
                             f"canvas as one block (klass_sample.py): drop block_length={self.block_length}")
        return dataclasses.replace(self, schedule=schedule, family=family)

    def value(self, name: str):
        """A sampler option: as given, else the sampler's reference default (`compat=parallelbench`:
        the benchmark's, where it differs)."""
        if name == "wino_canvas" and self.compat == "parallelbench":
            return "plain"
        return dict(self.parameters).get(name, SAMPLERS[self.sampler].parameters[name].default)

    def with_gen_length(self, gen_length: int) -> DecodingConfig:
        config = dataclasses.replace(self, gen_length=gen_length)
        config.validate()
        return config


# the block-diffusion families (models/families.py, which needs torch; a test keeps the two equal)
BLOCK_DIFFUSION_FAMILIES = frozenset({"sdar", "llada2", "fast_dllm_v2"})
# families whose blocks need not tile the generation length: block diffusion decodes whole
# attention blocks past it (models/block_diffusion.py), the ideal model counts list items, not tokens
UNTILED_BLOCK_FAMILIES = BLOCK_DIFFUSION_FAMILIES | {"ideal"}


def default_schedule(family: str) -> str:
    """Top-k counts as the benchmark decodes the family: Dream and DiffuCoder on `dream`'s
    float32 timesteps (ParallelBench's dream_model_utils.py), every other family `even`."""
    return "dream" if family == "dream" else "even"


# what `--model_args` and `--gen_kwargs` may set (the generation length comes from the task)
DECODING_OPTIONS = (
    *(f.name for f in dataclasses.fields(DecodingConfig) if f.name not in ("gen_length", "parameters", "family")),
    *SAMPLER_PARAMETERS,
)
