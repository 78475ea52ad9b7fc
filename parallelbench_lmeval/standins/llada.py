"""A small model with LLaDA's architecture and module names, written for tests (not LLaDA's code).

LLaDA's own modeling code lives on the Hugging Face hub and cannot be fetched offline, so the
test suite uses this stand-in: the same module tree (`model.transformer.{wte, blocks, ln_f,
ff_out}`, Llama-style blocks with `attn_norm`, `q_proj`/`k_proj`/`v_proj`, `attn_out`,
`ff_norm`, `ff_proj`/`up_proj`, `act`, `ff_out`), the same config fields, and a forward pass
written independently (explicit attention weights rather than fused kernels, positions 0..T-1,
2-D padding mask or 4-D boolean attention bias, as the hub forward accepts them). It is copied
next to the weights of a checkpoint and loaded with `trust_remote_code`, like the real model.
The real architecture is exercised by benchmarks/reference_equivalence.py on the hub's code.
"""

import math

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput


class LladaStandInConfig(PretrainedConfig):
    model_type = "llada"

    def __init__(self, d_model=64, n_heads=4, n_kv_heads=4, n_layers=2, mlp_hidden_size=128, vocab_size=30592,
                 embedding_size=30592, rope_theta=500000.0, rms_norm_eps=1e-5, max_sequence_length=512,
                 mask_token_id=103, **kwargs):
        self.d_model, self.n_heads, self.n_kv_heads, self.n_layers = d_model, n_heads, n_kv_heads, n_layers
        self.mlp_hidden_size, self.vocab_size, self.embedding_size = mlp_hidden_size, vocab_size, embedding_size
        self.rope_theta, self.rms_norm_eps, self.max_sequence_length = rope_theta, rms_norm_eps, max_sequence_length
        self.mask_token_id = mask_token_id
        # the fields of LLaDA's config that decide its architecture, fixed to LLaDA's values
        self.block_type, self.rope, self.rope_full_precision, self.weight_tying = "llama", True, True, False
        self.alibi = self.attention_layer_norm = self.input_emb_norm = self.scale_logits = False
        self.multi_query_attention = None
        kwargs.setdefault("tie_word_embeddings", False)
        super().__init__(**kwargs)


class RMSNorm(nn.Module):
    def __init__(self, size, eps):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(size)), eps

    def forward(self, x):
        normalized = x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)
        return normalized.to(x.dtype) * self.weight


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        d, kv = config.d_model, config.d_model // config.n_heads * config.n_kv_heads
        self.attn_norm, self.ff_norm = RMSNorm(d, config.rms_norm_eps), RMSNorm(d, config.rms_norm_eps)
        self.q_proj, self.k_proj, self.v_proj = nn.Linear(d, d, bias=False), nn.Linear(d, kv, bias=False), nn.Linear(d, kv, bias=False)
        self.attn_out = nn.Linear(d, d, bias=False)
        self.ff_proj = nn.Linear(d, config.mlp_hidden_size, bias=False)
        self.up_proj = nn.Linear(d, config.mlp_hidden_size, bias=False)
        self.ff_out = nn.Linear(config.mlp_hidden_size, d, bias=False)
        self.act = nn.SiLU()


class Transformer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict({
            "wte": nn.Embedding(config.embedding_size, config.d_model),
            "blocks": nn.ModuleList(Block(config) for _ in range(config.n_layers)),
            "ln_f": RMSNorm(config.d_model, config.rms_norm_eps),
            "ff_out": nn.Linear(config.d_model, config.embedding_size, bias=False),
        })


def _rotary(x, theta):
    """x [B, H, T, hd] rotated by its position 0..T-1: pairs (i, i + hd/2) turn by t * theta^(-2i/hd)."""
    half = x.shape[-1] // 2
    angle = torch.arange(x.shape[2], dtype=torch.float32)[:, None] * theta ** (-torch.arange(half, dtype=torch.float32) / half)
    cos, sin = angle.cos(), angle.sin()
    first, second = x[..., :half].float(), x[..., half:].float()
    return torch.cat([first * cos - second * sin, second * cos + first * sin], dim=-1).to(x.dtype)


class LladaStandInModel(PreTrainedModel):
    config_class = LladaStandInConfig

    def __init__(self, config):
        super().__init__(config)
        self.model = Transformer(config)

    def get_input_embeddings(self):
        return self.model.transformer.wte

    def get_output_embeddings(self):
        return self.model.transformer.ff_out

    def forward(self, input_ids, attention_mask=None, attention_bias=None, **unused):
        config, parts = self.config, self.model.transformer
        batch, length = input_ids.shape
        head_dim = config.d_model // config.n_heads
        allowed = torch.ones(batch, 1, length, length, dtype=torch.bool)
        if attention_mask is not None:
            allowed = allowed & attention_mask.bool()[:, None, None, :]
        if attention_bias is not None:
            allowed = allowed & attention_bias.bool()
        x = parts["wte"](input_ids)
        for block in parts["blocks"]:
            h = block.attn_norm(x)
            q = block.q_proj(h).view(batch, length, -1, head_dim).transpose(1, 2)
            k = block.k_proj(h).view(batch, length, -1, head_dim).transpose(1, 2)
            v = block.v_proj(h).view(batch, length, -1, head_dim).transpose(1, 2)
            q, k = _rotary(q, config.rope_theta), _rotary(k, config.rope_theta)
            groups = config.n_heads // config.n_kv_heads
            k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
            weights = (q @ k.transpose(-1, -2) / math.sqrt(head_dim)).masked_fill(~allowed, float("-inf")).softmax(-1)
            x = x + block.attn_out((weights @ v).transpose(1, 2).reshape(batch, length, -1))
            h = block.ff_norm(x)
            x = x + block.ff_out(block.act(block.ff_proj(h)) * block.up_proj(h))
        return CausalLMOutput(logits=parts["ff_out"](parts["ln_f"](x)))
