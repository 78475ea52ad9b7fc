"""Block diffusion: where each row's tokens go, the block-causal attention, and the block cache.

The block-diffusion families (SDAR / TraDo, LLaDA2.x, Fast-dLLM v2) were trained, and generate,
with blocks counted from the sequence's first token: a token attends to every token of its own
block and of the blocks before it, never to a later block. So:

- `BlockLayout`: a row's full prompt blocks go into a left-padded prompt tensor whose width is a
  multiple of the block length (left padding shifts rows by whole blocks, so every row's block
  boundaries fall on the same columns); the prompt's last partial block opens the row's canvas,
  followed by masks up to the end of the block that holds its last generated position (the
  models' own functions decode whole blocks); past that, the canvas is filled.
- `BlockCausalDenoiser`: one forward pass runs the current attention block and, once per block,
  the finished blocks not yet cached (the prompt, then each completed block): their keys and
  values go into `BlockCache` and are never computed again, since a finished block never changes
  and no earlier token sees a later one. A step's cost therefore stays the same however much has
  been generated (attention still reads the cache). With `keep_blocks=False` every pass runs the
  whole sequence up to the current block instead: the same result, for comparison.

The references run a separate pass to store a finished block (SDAR's `store_kv=True`, whose NFE
ParallelBench counts) or recompute everything (LLaDA2's `generate`); here the storing rides on
the next block's first step, so NFE counts the denoising steps only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from parallelbench_lmeval.decoding.config import LEFT_TO_RIGHT, DecodingConfig
from parallelbench_lmeval.decoding.step import Query
from parallelbench_lmeval.models.families import Family
from parallelbench_lmeval.models.forward import ModelForward, StackForward

# samplers that take back committed tokens, possibly outside the rows' own generated positions or blocks
BLOCK_REFUSED_SAMPLERS = {
    "rcr": "re-masks tokens of earlier blocks, which a block-diffusion model has already cached as final",
    "remdm": "re-masks committed tokens of the block, which in a block diffusion canvas can be prompt tokens",
    "wino": "revokes committed tokens of the block, which in a block diffusion canvas can be prompt tokens",
}


def attention_block(family: Family, model_config, config: DecodingConfig) -> int:
    """The attention block of a decoding: the model's fixed one (Fast-dLLM v2), else `block_length`."""
    if family.sub_blocks or config.unmasking == LEFT_TO_RIGHT:
        return family.trained_block_length(model_config)
    return config.block_size


def complete_block_config(config: DecodingConfig, family: Family, model_config, warn) -> DecodingConfig:
    """The decoding options of a block-diffusion model, checked before the weights load: the block
    length defaults to the trained one (or, for sub-blocks, to the family's default sub-block),
    also when it exceeds or does not divide the generation length (blocks are decoded whole)."""
    trained = family.trained_block_length(model_config)
    if config.sampler in BLOCK_REFUSED_SAMPLERS:
        raise ValueError(f"sampler={config.sampler} {BLOCK_REFUSED_SAMPLERS[config.sampler]}; "
                         f"not available for the {family.name} family")
    if config.compat != "none":
        raise ValueError(f"compat={config.compat} reproduces the benchmark's released LLaDA and Dream code; "
                         f"{family.name} is a block-diffusion model, decoded as its own generation function "
                         f"(docs/equivalence.md)")
    if config.cache != "none":
        raise ValueError(f"cache={config.cache}: {family.name} is a block-diffusion model, which always keeps its "
                         f"finished blocks as an exact key/value cache; prefix/dual are Fast-dLLM's approximate caches "
                         f"for full-diffusion models (use cache=none)")
    if config.block_length is None and config.unmasking != LEFT_TO_RIGHT:
        config = replace(config, block_length=family.default_sub_block if family.sub_blocks else trained)
    block = attention_block(family, model_config, config)
    if block % config.block_size:
        what = "k (left_to_right's block)" if config.unmasking == LEFT_TO_RIGHT else "block_length (a sub-block)"
        raise ValueError(f"{what}={config.block_size} must divide the attention block of {block} tokens of "
                         f"{family.name}; allowed: {', '.join(str(d) for d in range(1, block + 1) if block % d == 0)}")
    if block != trained:
        warn(f"block_length={block}: {family.name} was trained with blocks of {trained} tokens; "
             f"decoding with blocks of {block} changes the attention pattern it was trained on")
    return config


@dataclass
class BlockLayout:
    prompt_ids: torch.Tensor  # [B, W] each row's full prompt blocks, left-padded; W a multiple of the block
    prompt_keys: torch.Tensor  # [B, W] False on padding
    canvas: torch.Tensor  # [B, C] the starting canvas
    generated_from: torch.Tensor  # [B] canvas index of each row's first generated position
    ends: torch.Tensor  # [B] canvas index past each row's last position (the end of a block)
    fill_id: int  # what stands past a row's end (and after it finished)
    block: int  # the attention block

    @classmethod
    def build(cls, prompts: list[list[int]], block: int, gen_length: int, pad_id: int, mask_id: int, device):
        tails = [len(p) % block for p in prompts]
        heads = [len(p) - tail for p, tail in zip(prompts, tails)]
        width = max(heads)
        ends = [-(-(tail + gen_length) // block) * block for tail in tails]  # whole blocks
        prompt_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
        prompt_keys = torch.zeros((len(prompts), width), dtype=torch.bool)
        canvas = torch.full((len(prompts), max(ends)), pad_id, dtype=torch.long)
        for row, (tokens, head, tail, end) in enumerate(zip(prompts, heads, tails, ends)):
            if head:
                prompt_ids[row, width - head :] = torch.tensor(tokens[:head])
                prompt_keys[row, width - head :] = True
            canvas[row, :tail] = torch.tensor(tokens[head:], dtype=torch.long)
            canvas[row, tail:end] = mask_id
        return cls(prompt_ids.to(device), prompt_keys.to(device), canvas.to(device), torch.tensor(tails, device=device),
                   torch.tensor(ends, device=device), pad_id, block)

    def internal_config(self, config: DecodingConfig) -> DecodingConfig:
        """`config` over the whole canvas: the same blocks and steps per block."""
        width = self.canvas.shape[1]
        steps = config.steps_per_block() * (width // config.block_size) if config.steps is not None else None
        return replace(config, gen_length=width, steps=steps)

    def generated(self, canvas: torch.Tensor) -> torch.Tensor:
        """[B, C - shortest tail] each row's generated positions (its prompt tail dropped), filled on the right."""
        width = canvas.shape[1] - int(self.generated_from.min())
        offsets = self.generated_from[:, None] + torch.arange(width, device=canvas.device)
        inside = offsets < canvas.shape[1]
        return canvas.gather(1, offsets.clamp(max=canvas.shape[1] - 1)).masked_fill(~inside, self.fill_id)


class BlockCache:
    """The keys and values of finished blocks, per layer [B, kv heads, L, head dim], and how far each
    row's are stored. A pass of some rows over the span [start, end) computes keys and values for
    the whole span; where a row has them stored already, the stored ones are used (so a row's
    result does not depend on which rows share its pass), and the span's finished blocks
    [start, persist_until) are written back."""

    def __init__(self, batch_size: int, length: int, device):
        self.length = length
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.stored = torch.zeros(batch_size, dtype=torch.long, device=device)

    def for_pass(self, rows: torch.Tensor, every_row: bool, start: int, persist_until: int) -> CachePass:
        return CachePass(self, rows, every_row, start, persist_until)


class CachePass:
    """One forward pass's view of a `BlockCache` (the `cache` argument of `Stack.forward`)."""

    def __init__(self, cache: BlockCache, rows: torch.Tensor, every_row: bool, start: int, persist_until: int):
        self.cache, self.rows, self.every_row = cache, rows, every_row
        self.start, self.persist_until = start, persist_until
        self.stored = cache.stored[rows]

    def _allocate(self, layer: int, key: torch.Tensor, value: torch.Tensor, length: int) -> None:
        if layer == len(self.cache.keys):
            rows = self.cache.stored.shape[0]
            self.cache.keys.append(key.new_zeros(rows, key.shape[1], length, key.shape[3]))
            self.cache.values.append(value.new_zeros(rows, value.shape[1], length, value.shape[3]))

    def spliced(self, layer: int, key: torch.Tensor, value: torch.Tensor, slot: tuple[int, int]):
        """Keys and values [R, kv heads, end, head dim] the span attends to (see `BlockCache`)."""
        start, end = slot
        self._allocate(layer, key, value, self.cache.length)
        device = key.device  # with parallelize=True, the layer's
        positions = torch.arange(start, end, device=device)
        already = (positions < self.stored.to(device)[:, None])[:, None, :, None]  # [R, 1, T, 1]
        rows = self.rows.to(device)
        spliced = []
        for stored, new in ((self.cache.keys[layer], key), (self.cache.values[layer], value)):
            mine = stored if self.every_row else stored[rows]
            span = torch.where(already, mine[:, :, start:end], new)
            if self.persist_until > start:
                finished = span[:, :, : self.persist_until - start]
                if self.every_row:
                    stored[:, :, start : self.persist_until] = finished
                else:
                    stored[rows, :, start : self.persist_until] = finished
            spliced.append(torch.cat([mine[:, :, :start], span], dim=2))
        return spliced

    def finish(self) -> None:
        self.cache.stored[self.rows] = torch.clamp(self.stored, min=self.persist_until)


class BlockCausalDenoiser:
    """The denoiser of one batch of a block-diffusion model (see the module docstring)."""

    def __init__(self, forward: ModelForward, layout: BlockLayout, keep_blocks: bool = True):
        if not isinstance(forward, StackForward):
            raise ValueError("block diffusion runs the model's layers itself (with block-causal attention and the "
                             "block cache); this model's layers were not recognised, so it cannot be decoded here")
        self.stack, self.shift, self.block = forward.stack, forward.shift, layout.block
        self.prompt_ids, self.width = layout.prompt_ids, layout.prompt_ids.shape[1]
        canvas_keys = torch.ones_like(layout.canvas, dtype=torch.bool)
        self.keys = torch.cat([layout.prompt_keys, canvas_keys], dim=1)  # [B, L]
        self.positions = (self.keys.long().cumsum(-1) - 1).clamp(min=0)  # counted from each row's first token
        self.length = self.keys.shape[1]
        self.block_of = torch.arange(self.length, device=self.keys.device) // self.block
        self.cache = BlockCache(self.prompt_ids.shape[0], self.length, self.keys.device) if keep_blocks else None

    def attention(self, keys: torch.Tensor, start: int, end: int) -> torch.Tensor:
        """[R, 1, T, end] block-causal attention of the span [start, end) over [0, end); a padding
        position (which no real token sees) attends to itself, so that no row of the mask is empty."""
        queries = torch.arange(start, end, device=keys.device)
        earlier = self.block_of[None, :end] <= self.block_of[queries, None]
        itself = torch.arange(end, device=keys.device)[None, :] == queries[:, None]
        return ((earlier[None] & keys[:, None, :end]) | itself[None]).unsqueeze(1)

    def __call__(self, canvas: torch.Tensor, rows: torch.Tensor, query: Query) -> torch.Tensor:
        every_row = rows.numel() == self.prompt_ids.shape[0]
        pick = (lambda t: t) if every_row else (lambda t: t[rows])
        ids = torch.cat([pick(self.prompt_ids), canvas], dim=1)
        keys, positions = pick(self.keys), pick(self.positions)
        block_start = self.width + query.block.start // self.block * self.block
        end = block_start + self.block
        cache = None
        start = 0
        if self.cache is not None:
            stored = self.cache.stored[rows]
            # the earliest position a row of the pass has not stored (one sync); a shifted family
            # reads a block's predictions one position earlier, which its first-token step provides
            start = min(int(stored.min()), block_start)
            cache = self.cache.for_pass(rows, every_row, start, block_start)
        # a query padded with committed positions may ask for the position before the first: never used
        hidden_at = (self.width + query.positions - self.shift - start).clamp(min=0)
        hidden, _ = self.stack(ids[:, start:end], positions[:, start:end], self.attention(keys, start, end),
                               cache, (start, end))
        if cache is not None:
            cache.finish()
        return self.stack.logits(hidden, hidden_at)
