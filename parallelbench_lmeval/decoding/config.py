"""Decoding options: parsing from lm-eval's strings and validation, before any model is loaded."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from parallelbench_lmeval.decoding.scores import SCORES

LEFT_TO_RIGHT = "left_to_right"
UNMASKING_CHOICES = (*SCORES, LEFT_TO_RIGHT)


def as_int(name: str, value) -> int:
    """An integer option from a number or lm-eval's string; 2.5, "two" or True name the option in the error."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def _as_float(name: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


def _optional(convert, name, value):
    return None if value is None or value == "" or value == "None" else convert(name, value)


def optional_int(name: str, value) -> int | None:
    return _optional(as_int, name, value)


@dataclass(frozen=True)
class DecodingConfig:
    """How to unmask a canvas of `gen_length` masks.

    `k` (tokens per step) or `steps` fixes the schedule; `threshold` or `factor` makes it
    adaptive (each step then commits at least one token, as many as the rule allows).
    `block_length` cuts the canvas into semi-autoregressive blocks decoded left to right.
    `gen_length` is None while the length is not known yet (options given to the model
    before any request): the checks that need it run again once it is set.
    """

    gen_length: int | None
    unmasking: str = "confidence"
    k: int | None = None
    steps: int | None = None
    block_length: int | None = None
    threshold: float | None = None
    factor: float | None = None
    temperature: float = 0.0

    @classmethod
    def from_options(cls, **options) -> DecodingConfig:
        """Builds a config from strings or numbers (as `--model_args`/`--gen_kwargs` give them)."""
        unknown = set(options) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            allowed = ", ".join(f.name for f in dataclasses.fields(cls))
            raise ValueError(f"unknown decoding option(s) {sorted(unknown)}; allowed: {allowed}")
        config = cls(
            gen_length=optional_int("gen_length", options.get("gen_length")),
            unmasking=str(options.get("unmasking") or "confidence"),
            k=optional_int("k", options.get("k")),
            steps=optional_int("steps", options.get("steps")),
            block_length=optional_int("block_length", options.get("block_length")),
            threshold=_optional(_as_float, "threshold", options.get("threshold")),
            factor=_optional(_as_float, "factor", options.get("factor")),
            temperature=_optional(_as_float, "temperature", options.get("temperature")) or 0.0,
        )
        config.validate()
        return config

    def validate(self) -> None:
        if self.unmasking not in UNMASKING_CHOICES:
            raise ValueError(f"unknown unmasking strategy {self.unmasking!r}; allowed: {', '.join(UNMASKING_CHOICES)}")
        if self.gen_length is not None and self.gen_length <= 0:
            raise ValueError(f"gen_length must be a positive integer, got {self.gen_length}")
        if self.k is not None and self.steps is not None:
            raise ValueError(f"give either k (tokens per step) or steps, not both (got k={self.k}, steps={self.steps})")
        if self.k is not None and self.k <= 0:
            raise ValueError(f"k (tokens per step) must be a positive integer, got {self.k}")
        if self.steps is not None and self.steps <= 0:
            raise ValueError(f"steps must be a positive integer, got {self.steps}")
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
        if self.adaptive and (self.k is not None or self.steps is not None):
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
            if self.gen_length is not None and self.gen_length % self.block_length:
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
        return self.threshold is not None or self.factor is not None

    @property
    def score(self) -> str:
        """The score that orders positions (left-to-right commits whole blocks, so any score will do)."""
        return "confidence" if self.unmasking == LEFT_TO_RIGHT else self.unmasking

    @property
    def block_size(self) -> int:
        if self.unmasking == LEFT_TO_RIGHT:
            return min(self.k or 1, self.gen_length)
        return self.block_length or self.gen_length

    @property
    def num_blocks(self) -> int:
        return -(-self.gen_length // self.block_size)

    def with_gen_length(self, gen_length: int) -> DecodingConfig:
        config = dataclasses.replace(self, gen_length=gen_length)
        config.validate()
        return config
