"""What every reference adapter shares: cases, prompts, both runs, the comparison and the table.

An adapter is a module of this package (any module but this one) with two functions:

    detect(reference: Path) -> bool                     # is REFERENCE_PATH this adapter's code?
    cases(reference: Path, model_dir: Path) -> list[Case]

Each `Case` pairs a setting of our engine (`options`, the DecodingConfig options with
`gen_length`) with a callable that runs the reference on one prompt. `CaseRunner.run` decodes
all prompts with our engine in ONE left-padded batch (through `DiffusionLM`, as lm-eval runs
it, so identity also shows that a row does not depend on its batch), runs the reference prompt
by prompt (or, for a case with `batched_reference`, all prompts in one batch of the reference's
own), and compares the generated ids and the NFE of every prompt.

Randomness: before the reference runs prompt i, torch's global RNG is seeded with
`prompt_seed(i)` (`torch.initial_seed()` reads it back); our engine gets one `torch.Generator`
per prompt seeded with the same number. A reference whose own draws differ in shape from ours
(random order, Gumbel noise) can then be given our engine's draws (`EngineDraws`).

Reference code is imported from its own files (`import_file`), never copied here.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

GEN_LENGTH = 32  # the canvas of every case
# the LLaDA-style references' `remasking` names of our `unmasking` rules
UNMASKING = {"low_confidence": "confidence", "random": "random"}
# reference(model, prompt_ids) -> (generated ids, forward passes)
Reference = Callable[[object, list[int]], tuple[list[int], int]]
# batched_reference(model, prompts) -> (generated ids, forward passes) of each prompt, decoded in one batch
BatchedReference = Callable[[object, list[list[int]]], list[tuple[list[int], int]]]

# the prompts' texts, of mixed lengths; every word is in the BERT vocabulary
PROMPT_TEXTS = (
    "What is the capital of France?",
    "Sort these numbers in ascending order: 42, 7, 19, 3, 88, 51.",
    "Write one sentence about the sea.",
    "Copy the list exactly: apple, river, stone, cloud, lamp, garden, window, music, paper, table.",
    "Translate to French: the cat sleeps on the warm stone near the old garden wall.",
    "Hello",
    "Reverse the order of the words: one two three four five six seven eight nine ten eleven twelve.",
    "Explain in two sentences why the sky looks blue during the day and red in the evening, "
    "and say what this has to do with the length of the path that sunlight takes through the air.",
    "Replace every second word with the word blue: red green yellow black white grey brown pink.",
    "Summarize: the meeting moved to Tuesday because the room was not free on Monday.",
    "Count to five.",
    "List three animals that live in the ocean and one that lives in the desert.",
)


def add_threads_option(parser) -> None:
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: tiny models gain nothing from more, and on a busy machine "
                             "threads waiting for each other make them several times slower)")


def use_threads(parser, args) -> None:
    """Applies `--threads` (see add_threads_option), refusing a count below 1."""
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    torch.set_num_threads(args.threads)


def check_model_dir(parser, model_dir: Path) -> None:
    """Refuses a MODEL_DIR argument that is not a model folder."""
    if not (model_dir / "config.json").is_file():
        parser.error(f"{model_dir} is not a model folder (no config.json); build one with benchmarks/tiny_checkpoints.py")


def prompt_seed(index: int) -> int:
    """The seed of prompt `index`, for the reference (global RNG) and for our engine (its generator)."""
    return 1000 + index


def make_prompts(tokenizer, count: int) -> list[list[int]]:
    """`count` prompts of mixed lengths (1 to about 40 tokens): even ones through the model's chat
    template, odd ones plain text; no special tokens added (the chat template carries its own)."""
    prompts = []
    for index in range(count):
        text = PROMPT_TEXTS[index % len(PROMPT_TEXTS)]
        if index >= len(PROMPT_TEXTS):  # more prompts than texts: vary them
            text = f"{text} ({index})"
        if index % 2 == 0 and tokenizer.chat_template:
            text = tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                 add_generation_prompt=True)
        prompts.append(tokenizer(text, add_special_tokens=False)["input_ids"])
    return prompts


def import_file(path: Path, name: str):
    """Imports the reference module at `path` as `name`, with its folder first on sys.path so its
    own imports (e.g. Fast-dLLM's `from model.modeling_llada import ...`) resolve to its siblings."""
    folder = str(path.parent.resolve())
    sys.path.insert(0, folder)
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    return module


def reference_file(reference: Path, name: str) -> Path:
    """`reference` when it is a file, else the file `name` in it (a checkout's folder)."""
    return reference if reference.is_file() else reference / name


def load_hub_model(model_dir: Path) -> torch.nn.Module:
    """The model folder's own remote code (AutoModel with trust_remote_code), float32 on the CPU."""
    import transformers

    model = transformers.AutoModel.from_pretrained(model_dir, trust_remote_code=True, dtype=torch.float32)
    return model.eval()


class CountingModel:
    """Counts the reference's forward passes (its NFE): a call is one pass; everything else is the model's.
    Keeps the ids of the last pass (`last_input`), for adapters that must know the canvas of a step."""

    def __init__(self, model):
        self.model, self.calls, self.last_input = model, 0, None

    def __call__(self, *args, **kwargs):
        self.calls += 1
        self.last_input = args[0] if args else kwargs.get("input_ids")
        return self.model(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.model, name)

    def check_reported(self, reported: int, source: str) -> None:
        """Raises unless the reference's own count of its forward passes is the count of calls."""
        if reported != self.calls:
            raise AssertionError(f"{source} reported {reported} forward passes for {self.calls}")


class EngineDraws:
    """Stands in for `torch` inside a LLaDA-style reference sampler (set as its module's `torch`
    while it runs): the same module, except that `rand` and `rand_like` put our engine's draws
    at the masked positions of the block being decoded.

    The references draw from the global RNG in the shape of the model's input: a (1, L) uniform
    per step for the random order, a (1, L, V) float64 uniform for Gumbel noise. Our engine
    draws, per prompt, one number (random order) or one vocabulary row (Gumbel noise) per masked
    position of the block, in position order; those are the only values of the references'
    tensors that matter (their other positions get confidence -inf). The numbers come from the
    global RNG, which the runner seeds as it seeds our engine's generator for the prompt.
    """

    def __init__(self, model: CountingModel, mask_id: int, prompt_length: int, gen_length: int, block_length: int):
        self.model, self.mask_id = model, mask_id
        self.prompt_length, self.gen_length, self.block_length = prompt_length, gen_length, block_length

    def __getattr__(self, name):
        return getattr(torch, name)

    def block_masks(self) -> torch.Tensor:
        """Masked positions of the block being decoded, in the step's input (its last forward pass)."""
        ids = self.model.last_input[0]
        masked = (ids == self.mask_id).nonzero().squeeze(-1)
        if not len(masked):
            return masked
        # the whole canvas starts with the prompt; a cached step's input (Fast-dLLM) starts at the block
        start = self.prompt_length if len(ids) == self.prompt_length + self.gen_length else 0
        block = (masked[0] - start) // self.block_length
        return masked[masked < start + (block + 1) * self.block_length]

    def rand(self, size, device=None) -> torch.Tensor:
        """The random order: one number per masked position of the block."""
        positions = self.block_masks()
        noise = torch.zeros(size, device=device)
        noise[0, positions] = torch.rand(len(positions))
        return noise

    def rand_like(self, logits: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Gumbel noise: one vocabulary row per masked position of the block."""
        positions = self.block_masks()
        noise = torch.full_like(logits, 0.5, dtype=dtype)
        noise[0, positions] = torch.rand(len(positions), logits.shape[-1], dtype=dtype)
        return noise


@contextmanager
def engine_draws(module, model: CountingModel, mask_id: int, prompt_length: int, block_length: int):
    """Runs a reference sampler's `module` with `EngineDraws` as its `torch`, restored afterwards."""
    module.torch = EngineDraws(model, mask_id, prompt_length, GEN_LENGTH, block_length)
    try:
        yield
    finally:
        module.torch = torch


@dataclass(frozen=True)
class Case:
    method: str  # e.g. "low_confidence remasking"
    setting: str  # e.g. "steps=16 block=8"
    options: dict  # our DecodingConfig options, with gen_length
    reference: Reference
    reference_file: str  # the reference file the case runs, as shown in the table
    # builds the object handed to `reference` (default: the folder's remote code); loaded once per loader
    load_model: Callable[[Path], object] = field(default=load_hub_model)
    note: str = ""  # a deliberate difference, with the reference's file:line
    # our engine's batch size for this case (None: the runner's); an exact tie with the reference needs
    # bit-identical logits, which a padded batch's different matrix shapes do not give
    batch_size: int | None = None
    # compare the reference's tokens with as many of ours (block diffusion: the references return what
    # they decoded, up to an end token or past gen_length to the end of a block)
    prefix: bool = False
    # a negative control: our options without what makes the case match (compat, the schedule), which
    # `--controls` runs too, to show that the setting reaches the difference
    control: dict | None = None
    # the reference decoding all prompts in one batch (a reference with batches of its own), used
    # instead of `reference`
    batched_reference: BatchedReference | None = None

    def control_case(self) -> Case:
        options = {key: value for key, value in {**self.options, **self.control}.items() if value is not None}
        note = "control: " + ", ".join(f"{k}={v}" if v is not None else f"no {k}" for k, v in self.control.items())
        return replace(self, options=options, control=None, note=note)


def engine_backend(model_dir: Path):
    """Our engine's backend on the model folder, without its weights: its special ids, and the end
    tokens after which it stops a block-diffusion row (`stop_ids`), for the references."""
    from parallelbench_lmeval.models.dllm import DiffusionLM

    return DiffusionLM(pretrained=str(model_dir), trust_remote_code=True, device="cpu").backend


class Engine:
    """Our decoding engine on the model folder, as lm-eval builds it (`DiffusionLM`), float32 on the CPU."""

    def __init__(self, model_dir: Path):
        from parallelbench_lmeval.models.dllm import DiffusionLM

        self.lm = DiffusionLM(pretrained=str(model_dir), trust_remote_code=True, dtype="float32", device="cpu")

    @property
    def backend(self):
        return self.lm.backend

    def decode(self, prompts: list[list[int]], options: dict, seeds: list[int],
               batch_size: int | None = None) -> tuple[list[list[int]], list[int]]:
        """Generated ids and NFE of each prompt, decoded in batches of `batch_size` (None: one batch)."""
        options = dict(options)
        gen_length = options.pop("gen_length")
        config, _, _ = self.lm.request_config({**options, "max_gen_toks": gen_length})
        size = batch_size or len(prompts)
        tokens, nfe = [], []
        for start in range(0, len(prompts), size):
            generators = [torch.Generator().manual_seed(seed) for seed in seeds[start : start + size]]
            result = self.backend.decode(prompts[start : start + size], config, generators)
            tokens += result.tokens.tolist()
            nfe += result.nfe.tolist()
        return tokens, nfe


@dataclass(frozen=True)
class Row:
    case: Case
    prompts: int
    same_tokens: int
    same_nfe: int
    first_difference: str = ""  # where the first differing prompt differs, for the investigation

    @property
    def passed(self) -> bool:
        return self.same_tokens == self.prompts and self.same_nfe == self.prompts


class CaseRunner:
    """Runs cases on one model folder, loading our engine and each reference model once; our engine
    decodes the prompts in batches of `batch_size` (None: all in one batch)."""

    def __init__(self, model_dir: Path, prompts: list[list[int]], batch_size: int | None = None):
        self.model_dir, self.prompts, self.batch_size = model_dir, prompts, batch_size
        self.engine = Engine(model_dir)
        self.models: dict[Callable, object] = {Engine: self.engine}  # self-checks compare with our own engine

    def reference_model(self, loader: Callable[[Path], object]):
        if loader not in self.models:
            self.models[loader] = loader(self.model_dir)
        return self.models[loader]

    @torch.no_grad()
    def run(self, case: Case) -> Row:
        seeds = [prompt_seed(i) for i in range(len(self.prompts))]
        ours, our_nfe = self.engine.decode(self.prompts, case.options, seeds, case.batch_size or self.batch_size)
        model = self.reference_model(case.load_model)
        if case.batched_reference is not None:
            references = case.batched_reference(model, self.prompts)
        else:
            references = []
            for prompt, seed in zip(self.prompts, seeds):
                torch.manual_seed(seed)
                references.append(case.reference(model, prompt))
        same_tokens = same_nfe = 0
        first_difference = ""
        for index, (theirs, their_nfe) in enumerate(references):
            mine = ours[index][: len(theirs)] if case.prefix else ours[index]
            same_tokens += theirs == mine
            same_nfe += their_nfe == our_nfe[index]
            if not first_difference and (theirs != mine or their_nfe != our_nfe[index]):
                at = next((i for i, (a, b) in enumerate(zip(theirs, mine)) if a != b), None)
                first_difference = (f"prompt {index}: first differing position {at}, "
                                    f"NFE reference {their_nfe} vs ours {our_nfe[index]}")
        return Row(case, len(self.prompts), same_tokens, same_nfe, first_difference)


def format_table(rows: list[Row]) -> str:
    """The markdown table of the README."""
    lines = [
        "| reference file | method | setting | prompts | token-identical | NFE equal | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        case = row.case
        lines.append(
            f"| {case.reference_file} | {case.method} | {case.setting} | {row.prompts} | "
            f"{row.same_tokens}/{row.prompts} | {row.same_nfe}/{row.prompts} | {case.note} |"
        )
    return "\n".join(lines)
