"""A small block-diffusion model with SDAR's module names, written for tests (not SDAR's code).

SDAR, TraDo, LLaDA2.x and Fast-dLLM v2 ship their modeling code on the Hugging Face hub, which
cannot be fetched offline; the test suite and the speed benchmark use this stand-in instead: a
Qwen3-style decoder (`model.{embed_tokens, layers, norm, rotary_emb}`, `lm_head`; per layer
`self_attn.{q_proj, k_proj, v_proj, o_proj, q_norm, k_norm}`, `mlp`, `input_layernorm`,
`post_attention_layernorm`) whose forward takes a 4-D boolean attention mask (the block-causal
pattern is the caller's), position ids, and nothing else. Its config says `model_type: sdar` and
`block_size` (the trained block length), so it is decoded as the `sdar` family; the shifted
variant says `model_type: Fast_dLLM_Qwen` and `bd_size`, and is decoded as Fast-dLLM v2 (each
position predicted one position earlier). It is copied next to the weights of a checkpoint and
loaded with `trust_remote_code`, like the real models. The real architectures are exercised by
benchmarks/reference_equivalence.py on their own code.
"""

import math

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput

from parallelbench_lmeval.standins.llada import RMSNorm


class BlockDiffusionStandInConfig(PretrainedConfig):
    model_type = "sdar"

    def __init__(self, hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16, num_hidden_layers=2,
                 intermediate_size=128, vocab_size=30592, rope_theta=10000.0, rms_norm_eps=1e-6,
                 max_position_embeddings=4096, block_size=4, mask_token_id=103, **kwargs):
        self.hidden_size, self.num_attention_heads, self.num_key_value_heads = hidden_size, num_attention_heads, num_key_value_heads
        self.head_dim, self.num_hidden_layers, self.intermediate_size = head_dim, num_hidden_layers, intermediate_size
        self.vocab_size, self.rope_theta, self.rms_norm_eps = vocab_size, rope_theta, rms_norm_eps
        self.max_position_embeddings, self.block_size, self.mask_token_id = max_position_embeddings, block_size, mask_token_id
        kwargs.setdefault("tie_word_embeddings", False)
        super().__init__(**kwargs)


class ShiftedBlockDiffusionStandInConfig(BlockDiffusionStandInConfig):
    """Fast-dLLM v2's conventions: shifted predictions, attention blocks of `bd_size`."""

    model_type = "Fast_dLLM_Qwen"

    def __init__(self, bd_size=8, **kwargs):
        self.bd_size = bd_size
        super().__init__(**kwargs)


class Rotary(nn.Module):
    """cos and sin [B, T, head dim] of RoPE at `position_ids`: pairs (i, i + hd/2) turn by p * theta^(-2i/hd)."""

    def __init__(self, config):
        super().__init__()
        half = config.head_dim // 2
        self.register_buffer("frequencies", config.rope_theta ** (-torch.arange(half, dtype=torch.float32) / half),
                             persistent=False)

    def forward(self, x, position_ids):
        angle = position_ids.float()[..., None] * self.frequencies
        angle = torch.cat([angle, angle], dim=-1)
        return angle.cos().to(x.dtype), angle.sin().to(x.dtype)


class Attention(nn.Module):
    def __init__(self, config):
        super().__init__()
        d, hd = config.hidden_size, config.head_dim
        self.q_proj = nn.Linear(d, config.num_attention_heads * hd, bias=False)
        self.k_proj = nn.Linear(d, config.num_key_value_heads * hd, bias=False)
        self.v_proj = nn.Linear(d, config.num_key_value_heads * hd, bias=False)
        self.o_proj = nn.Linear(config.num_attention_heads * hd, d, bias=False)
        self.q_norm, self.k_norm = RMSNorm(hd, config.rms_norm_eps), RMSNorm(hd, config.rms_norm_eps)


class Mlp(nn.Module):
    def __init__(self, config):
        super().__init__()
        d, m = config.hidden_size, config.intermediate_size
        self.gate_proj, self.up_proj, self.down_proj = nn.Linear(d, m, bias=False), nn.Linear(d, m, bias=False), nn.Linear(m, d, bias=False)

    def forward(self, x):
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.self_attn, self.mlp = Attention(config), Mlp(config)
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)


class Body(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(Layer(config) for _ in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.rotary_emb = Rotary(config)


def _rotate(x, cos, sin):
    first, second = x.chunk(2, dim=-1)
    return x * cos[:, None] + torch.cat([-second, first], dim=-1) * sin[:, None]


class BlockDiffusionStandInModel(PreTrainedModel):
    config_class = BlockDiffusionStandInConfig

    def __init__(self, config):
        super().__init__(config)
        self.model = Body(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)

    def get_input_embeddings(self):
        return self.model.embed_tokens

    def get_output_embeddings(self):
        return self.lm_head

    def forward(self, input_ids, attention_mask=None, position_ids=None, **unused):
        config, body = self.config, self.model
        batch, length = input_ids.shape
        if position_ids is None:
            position_ids = torch.arange(length, device=input_ids.device).expand(batch, -1)
        allowed = torch.ones(batch, 1, length, length, dtype=torch.bool, device=input_ids.device)
        if attention_mask is not None:
            allowed = allowed & attention_mask.bool()
        cos, sin = body.rotary_emb(body.embed_tokens.weight, position_ids)
        x = body.embed_tokens(input_ids)
        groups = config.num_attention_heads // config.num_key_value_heads
        for layer in body.layers:
            attention, h = layer.self_attn, layer.input_layernorm(x)
            q = attention.q_norm(attention.q_proj(h).view(batch, length, -1, config.head_dim)).transpose(1, 2)
            k = attention.k_norm(attention.k_proj(h).view(batch, length, -1, config.head_dim)).transpose(1, 2)
            v = attention.v_proj(h).view(batch, length, -1, config.head_dim).transpose(1, 2)
            q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
            k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
            scores = (q @ k.transpose(-1, -2) / math.sqrt(config.head_dim)).masked_fill(~allowed, float("-inf"))
            x = x + attention.o_proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, length, -1))
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        return CausalLMOutput(logits=self.lm_head(body.norm(x)))


class ShiftedBlockDiffusionStandInModel(BlockDiffusionStandInModel):
    config_class = ShiftedBlockDiffusionStandInConfig
