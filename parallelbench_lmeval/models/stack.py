"""The diffusion models' transformers run layer by layer from their own modules (LLaDA, Dream and the
other Qwen-style decoders, LLaDA2).

The hub models' forward passes fix things a diffusion decoder needs to choose: LLaDA's takes no
position ids and refuses key/value caches, and places the queries at the end of the keys;
Dream's appends new keys at the end of its cache. Running the layers here, with the models' own
embedding, norms, projections, MLPs and output layer (their weights are untouched), gives:

- position ids counted from each row's first real token, so that left padding changes nothing;
- any boolean attention mask [B, 1, T, K] (WINO's extended canvas; padding);
- key/value caches (`KeyValues`): the new tokens can replace a span in the middle of cached
  keys (Fast-dLLM's dual cache) as well as follow them (prefix cache);
- the output layer applied only where predictions are needed.

The arithmetic follows each model's code in order and precision (LLaDA rotates queries and
keys in float32, Dream in the activation dtype); `build_stack` checks the result against the
model's own forward pass once, at load time, and falls back to that forward when they differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch
import torch.nn.functional as F
from torch import nn

from parallelbench_lmeval.decoding.step import gather_positions
from parallelbench_lmeval.decoding.workspace import Workspace


@dataclass
class KeyValues:
    """Per layer, the (rotated) keys and the values of a batch: [B, kv heads, L, head dim]; a step
    reads and writes the batch rows `rows` (None: all), sharing the storage of the whole batch."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    rows: torch.Tensor | None = None

    def for_rows(self, rows: torch.Tensor | None) -> KeyValues:
        return KeyValues(self.keys, self.values, rows)

    def write(self, other: KeyValues) -> None:
        """Stores `other` (the keys and values of this view's rows) in place."""
        for mine, theirs in zip(self.keys + self.values, other.keys + other.values):
            if self.rows is None:
                mine.copy_(theirs)
            else:
                mine[self.rows.to(mine.device)] = theirs  # with parallelize=True, each layer's device

    def spliced(self, layer: int, key: torch.Tensor, value: torch.Tensor, slot: tuple[int, int]):
        """The keys and values a step attends to at `layer`: the cached ones with the step's own
        in the slot [a, b), and the step's tokens beyond the slot (an extension of the canvas)
        after them. When every row steps, the slot is written into the cache itself rather than
        into a copy of it: until the next refresh every step recomputes the slot, so what it held
        is never read again. A subset of rows works on a copy of its rows."""
        a, b = slot
        spliced = []
        for cached, new in ((self.keys[layer], key), (self.values[layer], value)):
            if self.rows is not None:
                cached = cached[self.rows.to(cached.device)]
            cached[:, :, a:b] = new[:, :, : b - a]
            spliced.append(torch.cat([cached, new[:, :, b - a :]], dim=2) if new.shape[2] > b - a else cached)
        return spliced


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE with (cos, sin) [B, T, head dim] broadcast over the heads of x [B, H, T, head dim]."""
    return (x * cos.unsqueeze(1)) + (rotate_half(x) * sin.unsqueeze(1))


def attend(query, keys, values, mask) -> torch.Tensor:
    """Bidirectional attention [B, H, T, hd] over keys/values [B, Hkv, K, hd] (grouped heads repeated)."""
    repeat = query.shape[1] // keys.shape[1]
    if repeat > 1:
        keys, values = keys.repeat_interleave(repeat, dim=1), values.repeat_interleave(repeat, dim=1)
    return F.scaled_dot_product_attention(query, keys, values, attn_mask=mask, dropout_p=0.0, is_causal=False)


class Stack(nn.Module):
    """The transformer of a loaded model, run layer by layer. Subclasses name the modules.

    A model loaded with `parallelize=True` (accelerate's device_map="auto") has its layers on
    several devices: the hidden states follow them. (Accelerate's hooks move the inputs of the
    modules it placed, a whole layer, but the stack calls a layer's parts.)"""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    @cached_property
    def devices(self) -> list[torch.device] | None:
        """The device of each layer, when they are on more than one."""
        devices = [next(layer.parameters()).device for layer in self.layers]
        return devices if len(set(devices)) > 1 else None

    def forward(
        self,
        ids: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor | None,
        cache: KeyValues | None = None,
        slot: tuple[int, int] | None = None,
        keep: int = 0,
    ) -> tuple[torch.Tensor, KeyValues | None]:
        """Hidden states [B, T, D] of `ids` [B, T] at RoPE `positions` [B, T], attending as `mask`
        [B, 1, T, K] allows (None: everything). With `cache`, the keys and values of the step are
        the cache's with the new tokens placed at `slot` = (a, b) (`KeyValues.spliced`). With
        `keep`, the keys and values of the first `keep` tokens are returned, to build a cache from."""
        hidden = self.embed(ids)
        kept = KeyValues([], []) if keep else None
        cos, sin = self.rotary(hidden, positions)
        devices = self.devices
        for index, layer in enumerate(self.layers):
            if devices is not None and hidden.device != devices[index]:
                hidden, cos, sin = hidden.to(devices[index]), cos.to(devices[index]), sin.to(devices[index])
                mask = mask.to(devices[index]) if mask is not None else None
            query, key, value = self.projections(layer, hidden, cos, sin)
            if kept is not None:
                kept.keys.append(key[:, :, :keep])
                kept.values.append(value[:, :, :keep])
            if cache is not None:
                key, value = cache.spliced(index, key, value, slot)
            attended = attend(query, key, value, mask)
            hidden = self.after_attention(layer, hidden, attended)
        return hidden, kept

    def logits(
        self, hidden: torch.Tensor, positions: torch.Tensor | None = None, workspace: Workspace | None = None
    ) -> torch.Tensor:
        """The output layer's logits [B, P, V] at `positions` [B, P] of `hidden` (all when None), on
        the positions' device; written into the decode's `workspace` when given and the layer is a
        plain weight on that device (see decoding/workspace.py)."""
        device = hidden.device if positions is None else positions.device
        if positions is not None:
            hidden = gather_positions(hidden, positions.to(hidden.device))
        normed = self.final_norm(hidden)
        layer = self.output_layer()
        weight, bias = (layer, None) if isinstance(layer, torch.Tensor) else linear_weights(layer)
        if workspace is not None and bias is None and weight.device == normed.device == device:
            out = workspace.take("logits", (*normed.shape[:-1], weight.shape[0]), normed.dtype, device)
            return torch.matmul(normed, weight.t(), out=out)  # what F.linear computes without a bias
        return (F.linear(normed, layer) if isinstance(layer, torch.Tensor) else layer(normed)).to(device)

    # the model-specific parts
    layers: list

    def embed(self, ids):
        raise NotImplementedError

    def rotary(self, hidden, positions):
        raise NotImplementedError

    def projections(self, layer, hidden, cos, sin):
        raise NotImplementedError

    def after_attention(self, layer, hidden, attended):
        raise NotImplementedError

    def final_norm(self, hidden):
        raise NotImplementedError

    def output_layer(self) -> nn.Module | torch.Tensor:
        """The output layer: its module, or the embedding's weight [V, D] when they are tied."""
        raise NotImplementedError


def linear_weights(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(weight, bias) of an output layer, also when the model's own forward has it wrapped to
    project chosen positions only (`forward._WindowedHead`, which keeps the layer as `head`)."""
    linear = getattr(module, "head", module)
    return linear.weight, linear.bias


def split_heads(x: torch.Tensor, heads: int, head_dim: int) -> torch.Tensor:
    return x.view(*x.shape[:2], heads, head_dim).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], -1)


class LladaStack(Stack):
    """LLaDA / LLaDA 1.5 (`LLaDAModelLM`: model.transformer.{wte, blocks, ln_f, ff_out}, Llama blocks)."""

    def __init__(self, model: nn.Module):
        super().__init__(model)
        config, transformer = model.config, model.model.transformer
        self.transformer = transformer
        self.layers = list(transformer.blocks)
        self.heads = config.n_heads
        self.kv_heads = config.n_kv_heads or config.n_heads
        self.head_dim = config.d_model // config.n_heads
        self.full_precision_rope = bool(getattr(config, "rope_full_precision", True))
        exponents = torch.arange(0, self.head_dim, 2, dtype=torch.float) / self.head_dim
        self.register_buffer("inverse_frequencies", 1.0 / (config.rope_theta**exponents), persistent=False)
        self.tied = bool(config.weight_tying)

    @staticmethod
    def supports(model: nn.Module) -> bool:
        config = getattr(model, "config", None)
        transformer = getattr(getattr(model, "model", None), "transformer", None)
        return (
            transformer is not None and hasattr(transformer, "blocks")
            and getattr(config, "block_type", None) == "llama" and getattr(config, "rope", False)
            and not getattr(config, "alibi", False) and not getattr(config, "attention_layer_norm", False)
            and not getattr(config, "input_emb_norm", False) and not getattr(config, "scale_logits", False)
            and not getattr(config, "multi_query_attention", False)
        )

    def embed(self, ids):
        return self.transformer.wte(ids)

    def rotary(self, hidden, positions):
        # as LLaDA's RotaryEmbedding: angles and their sines in float32
        angles = positions.to(torch.float)[..., None] * self.inverse_frequencies.to(hidden.device)
        angles = torch.cat((angles, angles), dim=-1)
        return angles.cos(), angles.sin()

    def projections(self, layer, hidden, cos, sin):
        normed = layer.attn_norm(hidden)
        query = split_heads(layer.q_proj(normed), self.heads, self.head_dim)
        key = split_heads(layer.k_proj(normed), self.kv_heads, self.head_dim)
        value = split_heads(layer.v_proj(normed), self.kv_heads, self.head_dim)
        dtype = query.dtype
        if self.full_precision_rope:
            query, key = query.float(), key.float()
        query, key = rotate(query, cos.to(query.dtype), sin.to(query.dtype)), rotate(key, cos.to(key.dtype), sin.to(key.dtype))
        return query.to(dtype), key.to(dtype), value

    def after_attention(self, layer, hidden, attended):
        hidden = hidden + layer.attn_out(merge_heads(attended))
        normed = layer.ff_norm(hidden)
        return hidden + layer.ff_out(layer.act(layer.ff_proj(normed)) * layer.up_proj(normed))

    def final_norm(self, hidden):
        return self.transformer.ln_f(hidden)

    def output_layer(self):
        return self.transformer.wte.weight if self.tied else self.transformer.ff_out


class QwenStack(Stack):
    """The Qwen-style decoders (`model.{embed_tokens, layers, norm, rotary_emb}`, `lm_head`): Dream /
    DiffuCoder and Fast-dLLM v2 (Qwen2 layers), SDAR / TraDo (Qwen3 layers: a per-head RMS norm of
    queries and keys before RoPE), LLaDA-MoE (the same norms, optional clipping of q, k and v, and a
    shared expert added to the mixture of experts)."""

    def __init__(self, model: nn.Module):
        super().__init__(model)
        config = model.config
        self.base = model.model
        self.layers = list(self.base.layers)
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.clip = getattr(config, "clip_qkv", None)

    @staticmethod
    def supports(model: nn.Module) -> bool:
        base = getattr(model, "model", None)
        layers = getattr(base, "layers", None)
        return (all(hasattr(base, name) for name in ("embed_tokens", "layers", "norm", "rotary_emb"))
                and hasattr(model, "lm_head") and bool(layers) and hasattr(layers[0], "self_attn"))

    def embed(self, ids):
        return self.base.embed_tokens(ids)

    def rotary(self, hidden, positions):
        return self.base.rotary_emb(hidden, positions)  # (cos, sin) in the activation dtype, as the models

    def heads_of(self, attention, name: str, hidden, count: int):
        states = getattr(attention, f"{name}_proj")(hidden).view(*hidden.shape[:2], count, self.head_dim)
        norm = getattr(attention, f"{name}_norm", None)
        states = norm(states) if norm is not None else states
        if self.clip is not None:
            states = states.clamp(min=-self.clip, max=self.clip)
        return states.transpose(1, 2)

    def projections(self, layer, hidden, cos, sin):
        attention = layer.self_attn
        normed = layer.input_layernorm(hidden)
        query = self.heads_of(attention, "q", normed, self.heads)
        key = self.heads_of(attention, "k", normed, self.kv_heads)
        value = self.heads_of(attention, "v", normed, self.kv_heads)
        return rotate(query, cos, sin), rotate(key, cos, sin), value

    def after_attention(self, layer, hidden, attended):
        hidden = hidden + layer.self_attn.o_proj(merge_heads(attended))
        normed = layer.post_attention_layernorm(hidden)
        shared = getattr(layer, "shared_expert", None)
        return hidden + layer.mlp(normed) + (shared(normed) if shared is not None else 0)

    def final_norm(self, hidden):
        return self.base.norm(hidden)

    def output_layer(self):
        return self.model.lm_head


class Llada2Stack(Stack):
    """LLaDA2.0 / LLaDA2.1 (`LLaDA2MoeModelLM`: model.{word_embeddings, layers, norm, rotary_emb},
    lm_head): one fused query/key/value projection, per-head RMS norms of queries and keys, RoPE on
    the first `partial_rotary_factor` of each head, and a mixture of experts with shared experts
    (which returns its router outputs beside the hidden states)."""

    def __init__(self, model: nn.Module):
        super().__init__(model)
        config = model.config
        self.base = model.model
        self.layers = list(self.base.layers)
        self.heads, self.kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = config.head_dim or config.hidden_size // config.num_attention_heads

    @staticmethod
    def supports(model: nn.Module) -> bool:
        base = getattr(model, "model", None)
        layers = getattr(base, "layers", None)
        return (all(hasattr(base, name) for name in ("word_embeddings", "layers", "norm", "rotary_emb"))
                and hasattr(model, "lm_head") and bool(layers) and hasattr(layers[0].attention, "query_key_value"))

    def embed(self, ids):
        return self.base.word_embeddings(ids)

    def rotary(self, hidden, positions):
        return self.base.rotary_emb(hidden, positions)

    def projections(self, layer, hidden, cos, sin):
        attention = layer.attention
        fused = attention.query_key_value(layer.input_layernorm(hidden))
        fused = fused.view(*hidden.shape[:2], self.heads + 2 * self.kv_heads, self.head_dim).transpose(1, 2)
        query, key, value = fused.split([self.heads, self.kv_heads, self.kv_heads], dim=1)
        if getattr(attention, "query_layernorm", None) is not None:
            query, key = attention.query_layernorm(query), attention.key_layernorm(key)
        rotated = cos.shape[-1]  # the rotary part of each head
        query = torch.cat([rotate(query[..., :rotated], cos, sin), query[..., rotated:]], dim=-1)
        key = torch.cat([rotate(key[..., :rotated], cos, sin), key[..., rotated:]], dim=-1)
        return query, key, value

    def after_attention(self, layer, hidden, attended):
        hidden = hidden + layer.attention.dense(merge_heads(attended))
        out = layer.mlp(layer.post_attention_layernorm(hidden))
        return hidden + (out[0] if isinstance(out, tuple) else out)

    def final_norm(self, hidden):
        return self.base.norm(hidden)

    def output_layer(self):
        return self.model.lm_head


STACKS = {"llada": LladaStack, "dream": QwenStack, "fast_dllm_v2": QwenStack, "sdar": QwenStack,
          "llada_moe": QwenStack, "llada2": Llada2Stack}
