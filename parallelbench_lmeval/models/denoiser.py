"""The denoiser of one batch: the model's inputs from prompts and canvas, WINO's extended canvas,
and Fast-dLLM's key/value caches (Wu et al., 2025, arXiv 2505.22618).

`cache`:
- `none`: every step runs the whole sequence (prompt + canvas); exact.
- `prefix`: the first step of a block runs the whole sequence and keeps the keys and values of
  everything; the block's later steps run only the block and what follows it, attending to the
  kept keys and values of everything before the block.
- `dual`: the same, but later steps run only the block, attending to the kept keys and values
  before and after it.
The first step of a block also commits tokens (from its full pass), as in Fast-dLLM's
generate_with_prefix_cache / generate_with_dual_cache. `cache_refresh=N` also refreshes the
kept keys and values every N steps within a block (1: every step, which is exact).

For a shifted family (Dream), a position's prediction comes from the output one position
earlier, so the recomputed span starts one token before the block.

WINO's extended canvas (`Query.mirror`): a copy of the block is appended after the canvas, at the
block's own positions; copy j sees the whole canvas except block position j (and the other
copies), so its output is the model's prediction at that position with the token there hidden.
For a shifted family copy j holds the token before block position j, and sees only itself
among the copies.
"""

from __future__ import annotations

import torch

from parallelbench_lmeval.decoding.step import Query
from parallelbench_lmeval.decoding.workspace import Workspace
from parallelbench_lmeval.models.forward import KeyValues, ModelForward


class BatchDenoiser:
    def __init__(
        self,
        forward: ModelForward,
        prompt_ids: torch.Tensor,
        prompt_mask: torch.Tensor,
        gen_length: int,
        mask_id: int,
        cache: str = "none",
        cache_refresh: int = 0,
        workspace: Workspace | None = None,
    ):
        self.forward, self.mask_id = forward, mask_id
        self.workspace = workspace  # the decode call's memory, for the logits
        self.prompt_ids, self.width = prompt_ids, prompt_ids.shape[1]
        canvas_keys = torch.ones(prompt_ids.shape[0], gen_length, dtype=torch.bool, device=prompt_ids.device)
        self.keys = torch.cat([prompt_mask.bool(), canvas_keys], dim=1)  # [B, L]: False for left padding
        self.positions = (self.keys.long().cumsum(-1) - 1).clamp(min=0)  # counted from each row's first token
        self.length = self.keys.shape[1]
        self.mode, self.refresh_every = cache, cache_refresh
        self.cache: KeyValues | None = None
        self.cache_block = None
        self.since_refresh = 0

    def __call__(self, canvas: torch.Tensor, rows: torch.Tensor, query: Query) -> torch.Tensor:
        every_row = rows.numel() == self.prompt_ids.shape[0]
        pick = (lambda t: t) if every_row else (lambda t: t[rows])
        ids = torch.cat([pick(self.prompt_ids), canvas], dim=1)
        keys, positions = pick(self.keys), pick(self.positions)
        structure = None
        shift = self.forward.shift
        hidden_at = self.width + query.positions - shift
        if query.mirror:
            ids, positions, keys, structure = self._extend(ids, positions, keys, query)
            copies = torch.arange(query.block.length, device=ids.device) + self.length
            hidden_at = torch.cat([hidden_at, copies.expand(ids.shape[0], -1)], dim=1)
        if self.mode == "none":
            return self.forward(ids, positions, keys, hidden_at, structure, workspace=self.workspace)[0]
        return self._cached(ids, positions, keys, hidden_at, structure, rows, every_row, query)

    def _extend(self, ids, positions, keys, query):
        """The canvas followed by WINO's copies of the block, and the attention allowed among them."""
        start, end, shift = self.width + query.block.start, self.width + query.block.end, self.forward.shift
        size, total = end - start, self.length + end - start
        copies = ids[:, start - shift : end - shift] if shift else torch.full_like(ids[:, start:end], self.mask_id)
        structure = torch.ones(total, total, dtype=torch.bool, device=ids.device)
        structure[: self.length, self.length :] = False  # the canvas never sees the copies
        hides = torch.eye(size, dtype=torch.bool, device=ids.device)
        structure[self.length :, start:end] = ~hides  # copy j does not see block position j
        if shift:
            structure[self.length :, self.length :] = hides  # copies hold real tokens: each sees only itself
        return (
            torch.cat([ids, copies], dim=1),
            torch.cat([positions, positions[:, start - shift : end - shift]], dim=1),
            torch.cat([keys, torch.ones_like(keys[:, :size])], dim=1),
            structure,
        )

    def _cached(self, ids, positions, keys, hidden_at, structure, rows, every_row, query):
        cache_rows = None if every_row else rows
        refresh = (
            self.cache is None or query.block != self.cache_block
            or (self.refresh_every and self.since_refresh >= self.refresh_every)
        )
        if refresh:
            logits, kept = self.forward(ids, positions, keys, hidden_at, structure, keep=self.length,
                                        workspace=self.workspace)
            if self.cache is None:
                self.cache = KeyValues(
                    [k.new_empty(self.prompt_ids.shape[0], *k.shape[1:]) for k in kept.keys],
                    [v.new_empty(self.prompt_ids.shape[0], *v.shape[1:]) for v in kept.values],
                )
            self.cache.for_rows(cache_rows).write(kept)
            self.cache_block, self.since_refresh = query.block, 1
            return logits
        self.since_refresh += 1
        start = max(self.width + query.block.start - self.forward.shift, 0)
        end = self.length if self.mode == "prefix" else self.width + query.block.end
        recomputed = torch.arange(start, end, device=ids.device)
        if ids.shape[1] > self.length:  # WINO's copies are recomputed too
            recomputed = torch.cat([recomputed, torch.arange(self.length, ids.shape[1], device=ids.device)])
        if structure is not None:
            structure = structure[recomputed]
        inside = hidden_at < self.length
        hidden_at = torch.where(inside, hidden_at - start, hidden_at - self.length + (end - start))
        logits, _ = self.forward(
            ids[:, recomputed], positions[:, recomputed], keys, hidden_at, structure,
            cache=self.cache.for_rows(cache_rows), slot=(start, end), workspace=self.workspace,
        )
        return logits
