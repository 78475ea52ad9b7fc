"""The decoding methods, by `sampler` name (DecodingConfig.sampler)."""

from parallelbench_lmeval.decoding.samplers.base import EVERY_ROW, Sampler
from parallelbench_lmeval.decoding.samplers.dus import DilatedSampler
from parallelbench_lmeval.decoding.samplers.editing import EditingSampler
from parallelbench_lmeval.decoding.samplers.klass import KlassSampler
from parallelbench_lmeval.decoding.samplers.remasking import RemaskingDiffusionSampler, RunningConfidenceSampler
from parallelbench_lmeval.decoding.samplers.slowfast import SlowFastSampler
from parallelbench_lmeval.decoding.samplers.standard import (
    EntropyBoundedSampler,
    PositionCalibratedSampler,
    StandardSampler,
)
from parallelbench_lmeval.decoding.samplers.wino import WinoSampler

SAMPLER_CLASSES: dict[str, type[Sampler]] = {
    "standard": StandardSampler,
    "eb": EntropyBoundedSampler,
    "pc": PositionCalibratedSampler,
    "wino": WinoSampler,
    "slowfast": SlowFastSampler,
    "klass": KlassSampler,
    "dus": DilatedSampler,
    "rcr": RunningConfidenceSampler,
    "remdm": RemaskingDiffusionSampler,
    "edit": EditingSampler,
}

__all__ = ["EVERY_ROW", "SAMPLER_CLASSES", "Sampler"]
