"""Decodes prompts with a Hugging Face diffusion LM (LLaDA, Dream, DiffuCoder, any masked LM)."""

from __future__ import annotations

import logging

import torch

from parallelbench_lmeval.decoding import DecodingConfig, unmask
from parallelbench_lmeval.models.families import (
    FAMILIES,
    DenoisingForward,
    detect_family,
    load_model,
    resolve_special_ids,
)
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


class TransformerBackend:
    """Tokenizer now, weights on first use: every option and request is checked before the
    (possibly 16 GB) weights are read."""

    def __init__(
        self,
        pretrained: str,
        revision: str | None,
        dtype: torch.dtype,
        device: torch.device,
        trust_remote_code: bool,
        family: str | None,
        special_id_overrides: dict[str, int | None],
        tokenizer: str | None,
        chat_template: str | None,
        max_length: int | None,
        add_special_tokens: bool | None,
        suppress_eos: bool,
    ):
        import transformers

        if family is not None and family not in FAMILIES:
            raise ValueError(f"unknown family {family!r}; allowed: {', '.join(FAMILIES)}")
        self.pretrained, self.revision, self.dtype, self.device = pretrained, revision, dtype, device
        self.trust_remote_code = trust_remote_code
        self.config = transformers.AutoConfig.from_pretrained(pretrained, revision=revision, trust_remote_code=trust_remote_code)
        self.family = family or detect_family(self.config)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(
            tokenizer or pretrained, revision=revision, trust_remote_code=trust_remote_code
        )
        if chat_template is not None:
            self.tokenizer.chat_template = chat_template
        self.ids = resolve_special_ids(self.family, self.config, self.tokenizer, special_id_overrides)
        self.max_length = max_length or self._model_max_length()
        # a masked LM's prompt is a full [CLS] ... [SEP] sentence; LLaDA/Dream chat templates carry their own BOS
        self.add_special_tokens = self.family == "masked_lm" if add_special_tokens is None else add_special_tokens
        end_ids = {i for i in (self.ids.eos_id, self.ids.eot_id) if i is not None}
        self.forbidden_ids = sorted(end_ids) if suppress_eos else []
        self.not_generated_ids = sorted(end_ids | {self.ids.pad_id, self.ids.mask_id})
        self._forward: DenoisingForward | None = None

    def _model_max_length(self) -> int:
        for name in ("max_position_embeddings", "max_sequence_length", "n_positions"):
            if getattr(self.config, name, None):
                return int(getattr(self.config, name))
        return 4096

    @property
    def forward(self) -> DenoisingForward:
        if self._forward is None:
            model = load_model(self.family, self.config, self.pretrained, self.revision, self.dtype, self.trust_remote_code)
            self._forward = DenoisingForward(model.to(self.device), self.family)
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

    @torch.no_grad()
    def generate(self, contexts: list[str], config: DecodingConfig, generators: list[torch.Generator]) -> BatchOutput:
        """Decodes a batch; `generators` (one per prompt) make sampling independent of the batch."""
        prompt_ids, prompt_mask = left_pad([self.encode(c, config.gen_length) for c in contexts], self.ids.pad_id, self.device)
        width = prompt_ids.shape[1]
        attention = torch.cat([prompt_mask, torch.ones_like(prompt_mask[:, :1]).expand(-1, config.gen_length)], dim=1)
        forward = self.forward

        def denoise(canvas: torch.Tensor, rows: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
            every_row = rows.numel() == prompt_ids.shape[0]
            prompt, mask = (prompt_ids, attention) if every_row else (prompt_ids[rows], attention[rows])
            return forward(torch.cat([prompt, canvas], dim=1), mask, width + positions)

        result = unmask(
            denoise, len(contexts), config, self.ids.mask_id, self.device, generators, forbidden_ids=self.forbidden_ids
        )
        tokens = result.tokens
        generated = ~torch.isin(tokens, torch.tensor(self.not_generated_ids, device=tokens.device))
        texts = self.tokenizer.batch_decode(tokens.tolist(), skip_special_tokens=True)
        return BatchOutput(texts, result.nfe.tolist(), generated.sum(-1).tolist(), [config.gen_length] * len(contexts))

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
            "mask_id": self.ids.mask_id,
            "eos_id": self.ids.eos_id,
            "eot_id": self.ids.eot_id,
            "dtype": str(self.dtype).removeprefix("torch."),
            "windowed_head": self._forward is not None and self._forward.head is not None,
        }
