"""Adapter for Fast-dLLM v2's own generation, `batch_sample` (NVlabs/Fast-dLLM `v2/generation_functions.py`,
which `v2/eval.py` binds to the model as `mdm_sample` for its evaluations), on the hub's modeling file of
Efficient-Large-Model/Fast_dLLM_v2_7B (`modeling.py`, `configuration.py`).

    python benchmarks/tiny_checkpoints.py fast_dllm_v2 --code PATH/TO/Fast_dLLM_v2_7B_hub_files --out /tmp/eq/fast_dllm_v2 --eos-scale 1.7
    python benchmarks/reference_equivalence.py PATH/TO/NVlabs/Fast-dLLM/v2 /tmp/eq/fast_dllm_v2 --controls

REFERENCE_PATH is Fast-dLLM's `v2` folder (or its `generation_functions.py`). `batch_sample`
(generation_functions.py:16-168) runs as eval.py runs it (:226-262: prompts right-padded with the mask
id, `min_len` the shortest, `use_block_cache` False, greedy): blocks of `bd_size` counted from the
first token; the shortest prompt's full blocks are prefilled into the model's key/value cache
(:36-48); each block is decoded in sub-blocks of `small_block_size`, left to right, each pass running
the whole block and reading position i's prediction at i - 1 (the block's first position reads its
own, :112); a pass commits every masked position of the sub-block whose probability is above
`threshold`, and at least the most probable one (:114-123); a finished block is run once more to
store it, and that pass's last prediction is the next block's first token (:73-88; also the
prefill's, when the prompt fills whole blocks, :39-46). A row ends after the block in which it
committed `stop_token` (:125-126, :142-157). Ours: `block_length` = the sub-block, `threshold`, or
`k=1` for the reference's `threshold=1` (nothing is above it: one token per pass; eval_script.sh's
setting for gsm8k, math and ifeval); a block's first token committed alone is the family's rule.

Lengths: every row decodes blocks up to `max_new_tokens // bd_size` past the longest prompt's
block (:33); ours decodes the block holding each row's GEN_LENGTH-th token to its end. The
reference gets the `max_new_tokens` that covers every row's canvas; the compared tokens are a
row's up to the end of its own canvas, or, for a row that ended, up to its first stop token (it
writes padding after it, :75-78).

NFE, per row (in a batch every live row is in every pass): the denoising passes in which the row
commits a token inside its canvas (in a batch, a row whose sub-block is done waits for the others,
committing nothing, :96-99), plus each store pass or prefill that writes the row's next block's
first token inside its canvas. Not counted: a prefill or store pass over the prompt alone, and
the store pass of a row's last block.

Deliberate differences:
- threshold ties: `> threshold` (:118), ours `>=`; only exact ties differ (and `threshold=1.0`
  is not the reference's `threshold=1`: ours commits probabilities that round to 1; use `k=1`).
- Not compared: `use_block_cache=True` (:101-109), an approximate cache of the block's own keys and
  values between sub-blocks, not offered by `dllm`; temperature > 0, where the hub's
  `sample_with_top_p` draws `torch.multinomial(p_1t[0])`, for the first row only (modeling.py's
  last lines); a batch whose shortest prompt has exactly `bd_size` tokens, which `batch_sample` does
  not prefill (`min_len > block_size`, :36) and whose first block it never stores, so every row
  then decodes without it (no prompt here has that length; the adapter refuses one).
Patched around (the reference on transformers 4.57):
- dropping a finished row from the key/value cache indexes `past_key_values.key_cache` (:153-155),
  which transformers 4.56 removed from DynamicCache: the caches the model returns get
  `key_cache` and `value_cache` views of their layers' keys and values;
- that loop takes `len(past_key_values)` while it is still None when every row ends in the first
  block without a prefill (:48, :79-80, :153): the module's `len` counts None as empty.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from pathlib import Path

import torch

from equivalence.common import Case, CountingModel, engine_backend, import_file, reference_file
from equivalence.sdar import load_causal_lm

REFERENCE_FILE = "generation_functions.py"
GEN_LENGTH = 64  # two to three blocks of 32 after each prompt's own block
# (small_block_size, threshold); threshold 1.0 is never exceeded: one token per pass (ours k=1)
SETTINGS = (
    (8, 0.9),  # eval.py's defaults
    (8, 0.7),
    (8, 0.5),
    (4, 0.9),
    (16, 0.7),
    (32, 0.5),
    (8, 1.0),  # eval_script.sh's threshold=1
)
# the settings also run with the reference decoding all prompts in one batch, as eval.py batches
BATCHED_SETTINGS = ((8, 0.9), (4, 0.5), (8, 1.0))


def detect(reference: Path) -> bool:
    file = reference_file(reference, REFERENCE_FILE)
    return file.is_file() and "def batch_sample" in file.read_text(encoding="utf-8")


class LayerTensors:
    """`cache.key_cache` / `value_cache` as DynamicCache had them before transformers 4.56: per layer,
    read and assigned (here the layers' `keys` / `values`)."""

    def __init__(self, cache, name: str):
        self.cache, self.name = cache, name

    def __getitem__(self, layer: int) -> torch.Tensor:
        return getattr(self.cache.layers[layer], self.name)

    def __setitem__(self, layer: int, tensor: torch.Tensor) -> None:
        setattr(self.cache.layers[layer], self.name, tensor)


@dataclass(frozen=True)
class Pass:
    ids: torch.Tensor  # [live rows, L] the pass's input
    stores: bool  # update_past_key_values: a prefill or a store pass
    start: int  # the input's first position (the cached length)


class RecordedPasses(CountingModel):
    """The model as `batch_sample` sees it (`self`): records each `forward` call's input, and gives the
    key/value cache each returns the `key_cache` / `value_cache` of transformers < 4.56 (see the docstring)."""

    def __init__(self, model):
        super().__init__(model)
        self.passes: list[Pass] = []

    def forward(self, input_ids, past_key_values=None, update_past_key_values=False, **kwargs):
        start = past_key_values.get_seq_length() if past_key_values is not None else 0
        self.passes.append(Pass(input_ids.clone(), update_past_key_values, start))
        output = self(input_ids=input_ids, past_key_values=past_key_values,
                      update_past_key_values=update_past_key_values, **kwargs)
        cache = output.past_key_values
        if cache is not None and not hasattr(cache, "key_cache"):
            cache.key_cache, cache.value_cache = LayerTensors(cache, "keys"), LayerTensors(cache, "values")
        return output


def len_counting_none_as_empty(collection) -> int:
    return 0 if collection is None else builtins.len(collection)


def row_passes(passes: list[Pass], rows: list[list[int]], lengths: list[int], ends: list[int], block: int,
               stop_id: int, mask_id: int) -> list[int]:
    """Each row's NFE, as ours counts it (see the docstring), from the reference's passes and its
    output `rows`. Rows leave the batch, in order, after the block in which they ended (:142-157)."""
    nfe = [0] * len(lengths)
    live = list(range(len(lengths)))
    shortest = min(lengths)
    if shortest > block:  # the prefill: it writes the first token of the rows that fill whole blocks
        passes = passes[1:]
        for row in live:
            nfe[row] += shortest % block == 0 and lengths[row] == shortest
    for index, step in enumerate(passes):
        if step.stores:
            following, ended = step.start + block, []
            for at, row in enumerate(live):
                generated = step.ids[at, max(lengths[row] - step.start, 0):]
                ended.append(bool((generated == stop_id).any()))
                nfe[row] += not ended[-1] and lengths[row] <= following < ends[row]
            live = [row for row, gone in zip(live, ended) if not gone]
            continue
        if index + 1 < len(passes):
            after = passes[index + 1].ids
        else:  # every row ended in this block: no store pass follows (:79-80)
            after = torch.tensor([rows[row][step.start : step.start + block] for row in live])
        committed = ((step.ids == mask_id) & (after != mask_id)).any(-1)
        for at, row in enumerate(live):
            nfe[row] += bool(committed[at]) and step.start < ends[row]
    return nfe


def cases(reference: Path, model_dir: Path) -> list[Case]:
    module = import_file(reference_file(reference, REFERENCE_FILE), "fast_dllm_v2_reference_generation")
    module.len = len_counting_none_as_empty
    batch_sample = module.Fast_dLLM_QwenForCausalLM.batch_sample
    backend = engine_backend(model_dir)
    if len(backend.stop_ids) != 1:
        raise ValueError(f"batch_sample stops at one stop_token; our engine stops at {backend.stop_ids}")
    stop_id, mask_id = backend.stop_ids[0], backend.mask_id
    tokenizer = backend.tokenizer
    block = backend.config.bd_size

    def run_batch(model, prompts: list[list[int]], sub_block: int, threshold: float) -> list[tuple[list[int], int]]:
        lengths = [len(prompt) for prompt in prompts]
        if min(lengths) == block:
            raise ValueError(f"a batch whose shortest prompt has exactly bd_size={block} tokens is decoded without "
                             f"its first block by batch_sample (see the docstring); not compared")
        ends = [-(-(length + GEN_LENGTH) // block) * block for length in lengths]  # our canvases
        new_tokens = max(ends) - max(lengths) // block * block
        input_ids = torch.full((len(prompts), max(lengths)), mask_id)  # right-padded with the mask, as eval.py
        for row, prompt in enumerate(prompts):
            input_ids[row, : len(prompt)] = torch.tensor(prompt)
        recorded = RecordedPasses(model)
        samples = batch_sample(recorded, input_ids, tokenizer, block_size=block, max_new_tokens=new_tokens,
                               small_block_size=sub_block, min_len=min(lengths), seq_len=torch.tensor(lengths),
                               mask_id=mask_id, threshold=threshold, stop_token=stop_id, use_block_cache=False,
                               temperature=0.0)
        rows = [samples[row].tolist() for row in range(len(prompts))]
        nfe = row_passes(recorded.passes, rows, lengths, ends, block, stop_id, mask_id)
        results = []
        for row, length, end, passes in zip(rows, lengths, ends, nfe):
            tokens = row[length:end]
            if stop_id in tokens:  # a row that ended: padding after its first stop token
                tokens = tokens[: tokens.index(stop_id) + 1]
            results.append((tokens, passes))
        return results

    def case(sub_block: int, threshold: float, batched: bool) -> Case:
        def run(model, prompt_ids):
            return run_batch(model, [prompt_ids], sub_block, threshold)[0]

        def run_all(model, prompts):
            return run_batch(model, prompts, sub_block, threshold)

        one_per_pass = threshold >= 1.0
        options = {"gen_length": GEN_LENGTH, "block_length": sub_block,
                   **({"k": 1} if one_per_pass else {"threshold": threshold})}
        # controls: another threshold, or (one token per pass) whole blocks instead of sub-blocks
        control = {"block_length": block} if one_per_pass else {"threshold": 0.5 if threshold > 0.5 else 0.9}
        return Case(method="batch_sample" + (", all prompts in one batch" if batched else ""),
                    setting=f"gen={GEN_LENGTH} bd_size={block} small_block={sub_block} threshold={threshold}",
                    options=options, reference=run, reference_file=REFERENCE_FILE, load_model=load_causal_lm,
                    prefix=True, control=control, batched_reference=run_all if batched else None,
                    note="threshold=1 is k=1" if one_per_pass else "> vs >= (:118)")

    return [case(*setting, False) for setting in SETTINGS if block % setting[0] == 0] + \
        [case(*setting, True) for setting in BATCHED_SETTINGS if block % setting[0] == 0]
