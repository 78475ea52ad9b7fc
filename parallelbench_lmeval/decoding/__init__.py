"""Parallel unmasking for masked diffusion LMs, as pure tensor functions."""

from parallelbench_lmeval.decoding.config import UNMASKING_CHOICES, DecodingConfig
from parallelbench_lmeval.decoding.loop import DecodeResult, unmask

__all__ = ["UNMASKING_CHOICES", "DecodeResult", "DecodingConfig", "unmask"]
