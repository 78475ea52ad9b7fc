"""Per-sample decoding statistics that travel with the generated text through lm-eval.

lm-eval hands model outputs to the task's `process_results` untouched, so a `str`
subclass can carry the numbers from the model to the metrics, and from there into
`--log_samples` rows and the results table, without any global state.
"""

from __future__ import annotations

from typing import NamedTuple

# the decoding-order statistics (decoding/order.py): Kendall's tau and Spearman's rho against left
# to right, then both without the padding tail
ORDER_METRICS = ("dec_order_kendall", "dec_order_spearman", "dec_order_kendall_ignore_pad", "dec_order_spearman_ignore_pad")


class DecodedText(str):
    """Generated text, plus the decoding statistics of the sample that produced it."""

    stats: dict[str, float]

    def __new__(cls, text: str, stats: dict[str, float]):
        obj = super().__new__(cls, text)
        obj.stats = stats
        return obj

    def __reduce__(self):  # keeps the stats across pickling (multi-process gathers, caches)
        return DecodedText, (str(self), self.stats)


def decode_stats(response) -> dict[str, float]:
    """The statistics carried by a model response; {} for models that report none (e.g. `hf`)."""
    return dict(getattr(response, "stats", None) or {})


class BatchOutput(NamedTuple):
    """What a decoding backend returns for a batch, one entry per prompt."""

    texts: list[str]
    nfe: list[int]
    gen_tokens: list[int]  # generated tokens that are not end-of-text or padding
    canvas_length: list[int]  # positions decoded (tokens; items for the ideal model)
    decoding_order: list[dict[str, float]]  # the order metrics defined for each (decoding/order.py)
