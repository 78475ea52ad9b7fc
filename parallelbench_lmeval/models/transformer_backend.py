"""Decodes prompts with a Hugging Face diffusion LM (every family of `models/families.py`, any masked LM)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from parallelbench_lmeval.decoding import DecodeResult, DecodingConfig, unmask
from parallelbench_lmeval.decoding.block_diffusion import BlockDiffusionSampler
from parallelbench_lmeval.decoding.frequencies import PACKAGED as PACKAGED_TABLES
from parallelbench_lmeval.decoding.order import order_metrics
from parallelbench_lmeval.decoding.samplers import SAMPLER_CLASSES
from parallelbench_lmeval.decoding.step import Query
from parallelbench_lmeval.decoding.workspace import Workspace
from parallelbench_lmeval.errors import did_you_mean
from parallelbench_lmeval.models.block_diffusion import BlockCausalDenoiser, BlockLayout, attention_block
from parallelbench_lmeval.models.denoiser import BatchDenoiser
from parallelbench_lmeval.models.families import FAMILY_SPECS, Family, detect_family, load_model, resolve_special_ids
from parallelbench_lmeval.models.forward import ModelForward, build_forward
from parallelbench_lmeval.models.settings import ModelSettings
from parallelbench_lmeval.stats import BatchOutput

logger = logging.getLogger(__name__)


def left_pad(sequences: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Stacks token lists to the right edge: [batch, longest] ids and attention mask."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, tokens in enumerate(sequences):
        if tokens:
            ids[row, width - len(tokens) :] = torch.tensor(tokens, dtype=torch.long)
            mask[row, width - len(tokens) :] = 1
    return ids.to(device), mask.to(device)


def local_model_folder(pretrained: str) -> Path | None:
    """The local folder `pretrained` names, or None for a hub id ("name" or "org/name").

    A path that does not exist and cannot be a hub id (absolute, ./ or ~/, more than one slash)
    or whose first part is a local folder (`models/tiny_lada` beside a `models/` folder) is an
    error here, naming the folders it may mean, rather than a hub look-up that retries for half a
    minute and then fails with a message about huggingface.co. Such an `org/name` that the local
    hub cache holds is still read from the cache.
    """
    path = Path(pretrained).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ValueError(f"pretrained={pretrained!r} is a file; give a model folder (holding config.json) or a hub id")
    parent = path.parent
    cannot_be_hub_id = (path.is_absolute() or pretrained.startswith((".", "~")) or pretrained.count("/") > 1
                        or "\\" in pretrained)
    if not cannot_be_hub_id and not (pretrained.count("/") == 1 and parent.is_dir() and not _in_hub_cache(pretrained)):
        return None
    siblings = sorted(child.name for child in parent.iterdir() if child.is_dir()) if parent.is_dir() else []
    nearby = f"; {parent}/ holds {', '.join(siblings[:10])}{did_you_mean(path.name, siblings)}" if siblings else ""
    where = " (hub ids look like 'org/name')" if cannot_be_hub_id else "; nor does the local hub cache hold a model of that id"
    raise ValueError(f"pretrained={pretrained!r}: no such local folder{nearby}{where}")


def _in_hub_cache(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except ValueError:  # not a valid repository id
        return False


def _config_json(pretrained: str, revision: str | None, folder: Path | None) -> dict:
    """The model's config.json as a dict: read directly, so that nothing else is downloaded yet."""
    if folder is not None:
        path = folder / "config.json"
        if not path.is_file():
            raise ValueError(f"pretrained={pretrained!r}: the folder has no config.json")
    else:
        from huggingface_hub import hf_hub_download

        try:
            path = hf_hub_download(pretrained, "config.json", revision=revision)
        except Exception as error:
            raise ValueError(
                f"pretrained={pretrained!r}: no local folder of that name, and its config.json cannot be read from the "
                f"Hugging Face hub "
                f"({type(error).__name__}: {error}). Check the id and the revision; offline "
                "(HF_HUB_OFFLINE=1) a hub model must already be in the local cache."
            ) from None
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"pretrained={pretrained!r}: {path} is not valid JSON ({error})") from None
    if not isinstance(config, dict):
        raise ValueError(f"pretrained={pretrained!r}: {path} is not a JSON object")
    return config


def needs_remote_code(config_json: dict) -> bool:
    """The model's own code is needed when transformers does not know its model_type."""
    from transformers import CONFIG_MAPPING

    return bool(config_json.get("auto_map")) and config_json.get("model_type") not in CONFIG_MAPPING


@dataclass(frozen=True)
class ModelSource:
    config: object  # the model's transformers config
    family: str
    vocab_size: int | None  # rows of the output layer, when the config says


def resolve_model_source(settings: ModelSettings) -> ModelSource:
    """Config, family and vocabulary of `settings.pretrained`, read without any weights or model code
    unless `trust_remote_code` allows it; checks the id overrides against the vocabulary."""
    import transformers

    folder = local_model_folder(settings.pretrained)
    config_json = _config_json(settings.pretrained, settings.revision, folder)
    if needs_remote_code(config_json) and not settings.trust_remote_code:
        raise ValueError(
            f"{settings.pretrained} (model_type {config_json.get('model_type')!r}) runs its own modeling code "
            f"from that repository; pass trust_remote_code=True in --model_args if you trust {settings.pretrained}"
        )
    config = transformers.AutoConfig.from_pretrained(
        settings.pretrained, revision=settings.revision, trust_remote_code=settings.trust_remote_code
    )
    family = settings.family or detect_family(config)
    sizes = [int(v) for v in (getattr(config, "vocab_size", None), getattr(config, "embedding_size", None)) if v]
    vocab_size = max(sizes) if sizes else None
    for name, value in settings.special_id_overrides.items():
        if value is not None and vocab_size is not None and value >= vocab_size:
            raise ValueError(f"{name}={value} is outside the vocabulary of {settings.pretrained}: allowed 0..{vocab_size - 1}")
    return ModelSource(config=config, family=family, vocab_size=vocab_size)


def added_special_tokens(tokenizer) -> tuple[list[int], list[int]]:
    """The ids a tokenizer puts before and after a text ([CLS] ... [SEP] for BERT, a BOS for others)."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return full[:start], full[start + len(plain) :]
    return [], []


class TransformerBackend:
    """Tokenizer now, weights on first use: every option and request is checked before the
    (possibly 16 GB) weights are read."""

    def __init__(self, settings: ModelSettings, source: ModelSource, dtype: torch.dtype, device: torch.device):
        import transformers

        self.pretrained, self.revision, self.dtype, self.device = settings.pretrained, settings.revision, dtype, device
        self.device_map = "auto" if settings.parallelize else None
        self.trust_remote_code = settings.trust_remote_code
        self.config, self.family = source.config, source.family
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(
            settings.tokenizer or settings.pretrained, revision=settings.revision, trust_remote_code=settings.trust_remote_code
        )
        if settings.chat_template is not None:
            self.tokenizer.chat_template = settings.chat_template
        self.ids = resolve_special_ids(
            self.family, self.config, self.tokenizer, settings.special_id_overrides, source.vocab_size
        )
        self.max_length = settings.max_length or self._model_max_length()
        # a masked LM's prompt is a full [CLS] ... [SEP] sentence; LLaDA/Dream chat templates carry their own BOS
        add_special_tokens = settings.add_special_tokens
        self.add_special_tokens = self.family == "masked_lm" if add_special_tokens is None else add_special_tokens
        end_ids = {i for i in (self.ids.eos_id, self.ids.eot_id) if i is not None}
        self.stop_ids = sorted(end_ids)  # where a block-diffusion model's own generation stops
        self.forbidden_ids = sorted(end_ids) if settings.suppress_eos else []
        self.not_generated_ids = sorted(end_ids | {self.ids.pad_id, self.ids.mask_id})
        self.special_prefix, self.special_suffix = added_special_tokens(self.tokenizer) if self.add_special_tokens else ([], [])
        self._forward: ModelForward | None = None
        self.block_cache = True  # block diffusion keeps finished blocks (False: recomputes them, for comparison)

    def _model_max_length(self) -> int:
        for name in ("max_position_embeddings", "max_sequence_length", "n_positions"):
            if getattr(self.config, name, None):
                return int(getattr(self.config, name))
        return 4096

    @property
    def forward(self) -> ModelForward:
        if self._forward is None:
            model = load_model(self.family, self.config, self.pretrained, self.revision, self.dtype, self.trust_remote_code,
                               self.device_map)
            self._forward = build_forward(model if self.device_map else model.to(self.device), self.family)
        return self._forward

    @property
    def mask_id(self) -> int:
        return self.ids.mask_id

    def encode(self, context: str, gen_length: int) -> list[int]:
        tokens = self.tokenizer(context, add_special_tokens=self.add_special_tokens)["input_ids"]
        room = self.max_length - gen_length
        if room <= 0:
            raise ValueError(f"max_gen_toks={gen_length} leaves no room for a prompt within max_length={self.max_length}")
        return tokens[-room:]  # keep the end of an over-long prompt: the question is there

    # ------------------------------------------------------------------ likelihood
    def likelihood_inputs(self, context: str, continuation: str) -> tuple[list[int], list[int], list[int]]:
        """(prompt, answer, suffix) ids for scoring `continuation` after `context`.

        As lm-eval's causal models do, the context's trailing spaces move to the continuation and
        the answer is the tokens of context + continuation beyond those of the context; the
        tokenizer's special tokens are added around the whole (BERT's [SEP] lands after the
        answer, as unmasked context). A shifted family needs a token before the answer: an empty
        prompt gets the BOS (or EOS) id. An over-long prompt keeps its end.
        """
        spaces = len(context) - len(context.rstrip())
        if spaces:
            context, continuation = context[:-spaces], context[-spaces:] + continuation
        whole = self.tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
        context_ids = self.tokenizer(context, add_special_tokens=False)["input_ids"] if context else []
        prompt, answer = self.special_prefix + context_ids, whole[len(context_ids) :]
        if not prompt and self.forward_shift:
            prompt = [self.prefix_token_id]
        room = self.max_length - len(answer) - len(self.special_suffix)
        if room < self.forward_shift or (room <= 0 and prompt):
            raise ValueError(f"a continuation of {len(answer)} tokens does not fit in max_length={self.max_length}")
        return (prompt[-room:] if room > 0 else []), answer, self.special_suffix

    def rolling_windows(self, text: str) -> list[tuple[list[int], list[int]]]:
        """lm-eval's disjoint rolling windows over `text` (context ids, ids to score), each fitting in
        max_length with the tokenizer's special tokens. The first window is scored after the prefix
        token, or after the tokenizer's own leading special tokens when it adds some."""
        from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

        tokens = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        room = self.max_length - len(self.special_prefix) - len(self.special_suffix)
        # a window's context and scored tokens together are one token longer than lm-eval's max_seq_len
        windows = get_rolling_token_windows(
            token_list=tokens, prefix_token=self.prefix_token_id, max_seq_len=room - 1, context_len=1
        )
        pairs = [(list(context), list(scored)) for context, scored in map(make_disjoint_window, windows)]
        if pairs and self.special_prefix:
            pairs[0] = ([], pairs[0][1])
        return [(self.special_prefix + context, scored) for context, scored in pairs]

    @property
    def default_pc_frequencies(self) -> str | None:
        """PC-Sampler ships token frequencies for the LLaDA and Dream tokenizers."""
        return self.family if self.family in PACKAGED_TABLES else None

    @property
    def prefix_token_id(self) -> int:
        """What stands before a text with no context (lm-eval's prefix token: BOS, else CLS, else EOS)."""
        for candidate in (self.tokenizer.bos_token_id, self.tokenizer.cls_token_id, self.ids.eos_id):
            if candidate is not None:
                return candidate
        return self.ids.pad_id

    @property
    def family_spec(self) -> Family:
        return FAMILY_SPECS[self.family]

    @property
    def forward_shift(self) -> int:
        return self.family_spec.shift

    def logits_at(self, ids: torch.Tensor, positions: torch.Tensor, keys: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [rows, P, V] predicting `ids` at `positions`; `keys` [rows, T] False where a row is
        right-padded (never attended), every token attended when None."""
        forward = self.forward
        sequence = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)
        keys = torch.ones_like(ids, dtype=torch.bool) if keys is None else keys
        return forward(ids, sequence, keys, positions - forward.shift)[0]

    @torch.no_grad()
    def decodes_greedily(self, prompt: list[int], answer: list[int], suffix: list[int]) -> bool:
        """LLaDA's is_greedy: confidence-ordered decoding of the answer's positions, one token per
        step, writes exactly the answer."""
        if not answer:
            return True
        before = torch.tensor([prompt], dtype=torch.long, device=self.device)
        after = torch.tensor([suffix], dtype=torch.long, device=self.device)

        def denoise(canvas: torch.Tensor, rows: torch.Tensor, query: Query) -> torch.Tensor:
            return self.logits_at(torch.cat([before, canvas, after], dim=1), len(prompt) + query.positions)

        config = DecodingConfig.from_options(gen_length=len(answer))
        decoded = unmask(denoise, 1, config, self.ids.mask_id, self.device).tokens
        return decoded[0].tolist() == list(answer)

    @torch.no_grad()
    def decode(self, prompts: list[list[int]], config: DecodingConfig, generators=None) -> DecodeResult:
        """Decodes token-id prompts (left-padded into one batch): the canvases and NFE per row."""
        if self.family_spec.block_causal:
            return self._decode_blocks(prompts, config, generators)
        prompt_ids, prompt_mask = left_pad(prompts, self.ids.pad_id, self.device)
        forward = self.forward
        if config.cache != "none" and not forward.caches:
            raise ValueError(f"cache={config.cache} needs layers the engine runs (models/stack.py); this model runs its own forward")
        workspace = Workspace()  # the steps' logits and probabilities, in memory kept for the call
        denoise = BatchDenoiser(forward, prompt_ids, prompt_mask, config.gen_length, self.ids.mask_id,
                                config.cache, config.cache_refresh, workspace)
        return unmask(denoise, len(prompts), config, self.ids.mask_id, self.device, generators,
                      forbidden_ids=self.forbidden_ids, prompt_lengths=[len(prompt) for prompt in prompts],
                      workspace=workspace)

    def _decode_blocks(self, prompts: list[list[int]], config: DecodingConfig, generators) -> DecodeResult:
        """Block diffusion (`models/block_diffusion.py`): each row's generated positions, from its first
        one to the end of its last block (past `gen_length` when that falls inside a block)."""
        spec = self.family_spec
        layout = BlockLayout.build(prompts, attention_block(spec, self.config, config), config.gen_length,
                                   self.ids.pad_id, self.ids.mask_id, self.device)
        internal = layout.internal_config(config)
        denoise = BlockCausalDenoiser(self.forward, layout, keep_blocks=self.block_cache)
        inner = SAMPLER_CLASSES[config.sampler](internal, len(prompts), self.ids.mask_id, self.device)
        sampler = BlockDiffusionSampler(inner, layout.block, layout.generated_from, layout.ends, self.stop_ids,
                                        layout.fill_id, spec.first_token_alone)
        result = unmask(denoise, len(prompts), internal, self.ids.mask_id, self.device, generators,
                        forbidden_ids=self.forbidden_ids, prompt_lengths=[len(prompt) for prompt in prompts],
                        canvas=layout.canvas, sampler=sampler)
        return DecodeResult(tokens=layout.generated(result.tokens), nfe=result.nfe,
                            commit_steps=layout.generated(result.commit_steps))

    def ended_at_stop(self, tokens: torch.Tensor) -> torch.Tensor:
        """`tokens` with everything after the first end token filled, as a block-diffusion model's own
        generation function returns its text (full-diffusion output is scored whole, SPEC §2)."""
        stops = torch.isin(tokens, torch.tensor(self.stop_ids, device=tokens.device))
        after = (stops.long().cumsum(-1) - stops.long()) > 0
        return tokens.masked_fill(after, self.ids.pad_id)

    def generate(self, contexts: list[str], config: DecodingConfig, generators: list[torch.Generator]) -> BatchOutput:
        """Decodes a batch; `generators` (one per prompt) make sampling independent of the batch."""
        result = self.decode([self.encode(c, config.gen_length) for c in contexts], config, generators)
        tokens = result.tokens[:, : config.gen_length]
        if self.family_spec.block_causal:
            tokens = self.ended_at_stop(tokens)
        generated = ~torch.isin(tokens, torch.tensor(self.not_generated_ids, device=tokens.device))
        texts = self.tokenizer.batch_decode(tokens.tolist(), skip_special_tokens=True)
        return BatchOutput(texts, result.nfe.tolist(), generated.sum(-1).tolist(), [config.gen_length] * len(contexts),
                           order_metrics(result.commit_steps[:, : config.gen_length], tokens, self.ids.pad_id))

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(
            chat_history,
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
            continue_final_message=not add_generation_prompt,
        )

    def describe(self) -> dict:
        return {
            "family": self.family,
            # the hub commit the config was read from (None for a local folder)
            "revision": getattr(self.config, "_commit_hash", None) or self.revision,
            "mask_id": self.ids.mask_id,
            "eos_id": self.ids.eos_id,
            "eot_id": self.ids.eot_id,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device_map": self.device_map,
            "forward": None if self._forward is None else type(self._forward).__name__,
        }
