"""Adapter for furiosa-ai/ParallelBench's decoding methods (the code behind its leaderboard).

    python benchmarks/tiny_checkpoints.py llada --code /work/refs/llada_hub --out /tmp/eq/llada
    python benchmarks/reference_equivalence.py /work/refs/furiosa-ai__ParallelBench /tmp/eq/llada
    python benchmarks/tiny_checkpoints.py dream --code /work/refs/dream_hub --out /tmp/eq/dream
    python benchmarks/reference_equivalence.py /work/refs/furiosa-ai__ParallelBench /tmp/eq/dream

REFERENCE_PATH is the repository's root: its files import each other as the `parallelbench`
package. On a LLaDA checkpoint the cases are the LLaDA methods, each against our sampler:

- narrow WINO, `models/local/llada/wino_generate.py` (the leaderboard's `wino`): `sampler=wino
  wino_canvas=plain`. The repository's other, wide version (commit 21e6222) also lets the copy of
  the block be accepted as if it were canvas (its line 96); that is not compared (the wino adapter
  compares the wide canvas with WINO-DLLM's own code);
- SlowFast, `models/local/llada/slowfast_generate.py`: `sampler=slowfast`;
- KLASS, `models/local/llada/klass_generate.py`: `sampler=klass`;
- DUS, `models/local/llada/dus_generate.py`: `sampler=dus`;
- RCR, `models/local/generate_rcr.py` with `remasking='rcr', overtime_conf=True`: `sampler=rcr`;
- ReMDM, `model/local/generate_remdm.py`: `sampler=remdm`.

On a Dream checkpoint the cases are the benchmark's Dream decoding, `sample_block` of
`models/local/dream/dream_model_utils.py` (top-k on its own step counts, and thresholds: the
parallelbench_dream adapter, which says what they run), and KLASS for Dream,
`models/local/dream/klass_sample.py`, which replaces Dream's `_sample` and decodes the whole
canvas as one block: `sampler=klass` without `block_length`. KLASS imports its helpers
`sample_tokens` and `DreamModelOutput` from `dream_model_utils`; where a checkout lacks that file,
the checkpoint's `generation_utils.py` (Dream's own, of which it is a copy) stands in for it. Two
details differ from ours and the LLaDA file, both only on exact ties: a position is ready at
confidence >= the threshold (klass_sample.py:134; > elsewhere), and the fallback picks the
position of highest float32 confidence (klass_sample.py:149-157; ours float64).

A checkout may hold only some of the files: the cases of the files present run (the table names
each case's file).

ParallelBench loads LLaDA with its forward patched so that the mask token's logit is -inf
(`models/local/llada/llada_model.py:53-72`, also in the paper-era release that ran RCR and ReMDM):
the LLaDA references run on the same wrapper here. Its Dream wrapper (`dream_model.py`) patches no
logits, so the Dream reference runs on the plain model.

Deliberate differences of our engine, none of which the settings here reach (so the tables show
none): KLASS's fallback can overwrite decoded tokens when its top-k quota exceeds the masks left
(klass_generate.py:152-159, only with fewer steps than tokens; ours commits masked positions only,
and every setting here has one step per token); ReMDM can remask prompt tokens when fewer tokens
than `remdm_number` were committed (generate_remdm.py:113-118; ours remasks the block's own
tokens; here the revision steps come after at least 7 commits); RCR counts prompt positions as
confidence 1.0 when choosing what to remask (generate_rcr.py:159-169; ours remasks generated
positions only), which matters only if more stored confidences than it remasks are exactly 1.0.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import torch

from transformers import AutoTokenizer

from equivalence.common import GEN_LENGTH, Case, CountingModel, import_file, load_hub_model, make_prompts
from equivalence.parallelbench_dream import FILES as DREAM_UTILS_FILES
from equivalence.parallelbench_dream import sample_block_cases

LLADA = "parallelbench/models/local/llada"
FILES = {
    "wino": f"{LLADA}/wino_generate.py",
    "slowfast": f"{LLADA}/slowfast_generate.py",
    "klass": f"{LLADA}/klass_generate.py",
    "dus": f"{LLADA}/dus_generate.py",
    "rcr": "parallelbench/models/local/generate_rcr.py",
    "remdm": "parallelbench/model/local/generate_remdm.py",
    "klass_dream": "parallelbench/models/local/dream/klass_sample.py",
    "generate": "parallelbench/models/local/generate.py",
}
COMPAT = {"compat": "parallelbench"}
TIED_PROMPTS = 3  # Dream KLASS cases whose threshold one prompt's confidence equals exactly (one case per prompt)
DREAM_UTILS = "parallelbench.models.local.dream.dream_model_utils"


def detect(reference: Path) -> bool:
    """The refactored repository (its `parallelbench` package), whole or in part."""
    return reference.is_dir() and any((reference / relative).is_file()
                                      for relative in (*FILES.values(), DREAM_UTILS_FILES["refactor"]))


def present(root: Path, *keys: str) -> bool:
    return all((root / FILES[key]).is_file() for key in keys)


def import_reference(root: Path, method: str):
    """A reference file, with the checkout's root on sys.path for its `parallelbench...` imports."""
    sys.path.insert(0, str(root.resolve()))
    try:
        return import_file(root / FILES[method], f"parallelbench_reference_{method}")
    finally:
        sys.path.remove(str(root.resolve()))


class MaskSuppressed:
    """The model as ParallelBench's LladaModel patches it: every forward returns the mask token's logit as -inf."""

    def __init__(self, model):
        self.model = model

    def __call__(self, *args, **kwargs):
        output = self.model(*args, **kwargs)
        output.logits[:, :, self.model.config.mask_token_id] = float("-inf")
        return output

    def __getattr__(self, name):
        return getattr(self.model, name)


def load_mask_suppressed(model_dir: Path) -> MaskSuppressed:
    return MaskSuppressed(load_hub_model(model_dir))


def llada_case(method: str, key: str, setting: str, options: dict, call: Callable, note: str = "",
               control: dict | None = None) -> Case:
    """A case of the ParallelBench LLaDA function of FILES[key], run on the mask-suppressed model:
    `call(model, prompt, mask_id)` calls it and returns its (ids, nfe, history)."""

    def run(model, prompt_ids: list[int]) -> tuple[list[int], int]:
        counted = CountingModel(model)
        out, nfe, _ = call(counted, torch.tensor([prompt_ids]), model.config.mask_token_id)
        counted.check_reported(nfe, FILES[key])
        return out[0, len(prompt_ids):].tolist(), nfe

    return Case(method, f"gen={GEN_LENGTH} {setting}", {"gen_length": GEN_LENGTH, **options}, run, FILES[key],
                load_model=load_mask_suppressed, note=note, control=control)


def adaptive_case(function: Callable, method: str, key: str, setting: str, fields: dict, options: dict) -> Case:
    """A case of an adaptive method, `function(model, prompt, gen_config, mask_id)`, whose generation
    config holds `fields` besides the lengths (ParallelBench derives block = steps = max_tokens)."""
    gen_config = SimpleNamespace(**{"max_tokens": GEN_LENGTH, "block_length": GEN_LENGTH, "steps": None,
                                    "temperature": 0.0, **fields})
    return llada_case(method, key, setting, options,
                      lambda model, prompt, mask_id: function(model, prompt, gen_config, mask_id))


def wino_case(wino_generate_llada: Callable, threshold: float, back: float, block: int) -> Case:
    return adaptive_case(
        wino_generate_llada, "WINO (narrow, plain canvas)", "wino",
        f"block={block} threshold={threshold:g} back={back:g}",
        {"wino_threshold": threshold, "wino_threshold_back": back, "block_length": block},
        {"sampler": "wino", "wino_canvas": "plain", "wino_threshold": threshold, "wino_threshold_back": back,
         "block_length": block})


def slowfast_case(slowfast_generate_llada: Callable, high: float, cycle: float, block: int) -> Case:
    return adaptive_case(
        slowfast_generate_llada, "SlowFast", "slowfast", f"block={block} high={high:g} cycle={cycle:g}",
        {"sf_exploration_steps": 6, "sf_cycle_confidence_threshold": cycle, "sf_high_confidence_threshold": high,
         "block_length": block},
        {"sampler": "slowfast", "sf_cycle_confidence_threshold": cycle, "sf_high_confidence_threshold": high,
         "block_length": block})


def klass_case(klass_generate_llada: Callable, conf: float, kl: float, history: int, block: int,
               steps: int = GEN_LENGTH, compat: bool = False) -> Case:
    case = adaptive_case(
        klass_generate_llada, "KLASS", "klass",
        f"block={block} steps={steps} conf={conf:g} kl={kl:g} history={history}",
        {"conf_threshold": conf, "kl_threshold": kl, "kl_history_length": history, "block_length": block,
         "steps": steps},
        {"sampler": "klass", "klass_conf_threshold": conf, "klass_kl_threshold": kl, "klass_kl_history": history,
         "block_length": block, "steps": steps, **(COMPAT if compat else {})})
    # fewer steps than tokens: a fallback quota can exceed the masks left (klass_generate.py's fallback quirk)
    return replace(case, note="compat=parallelbench (the fallback's writes beyond the masks left)",
                   control={"compat": None}) if compat else case


def generate_case(generate: Callable, unmasking: str, block: int, steps: int | None = None,
                  threshold: float | None = None, factor: float | None = None) -> Case:
    """ParallelBench's own LLaDA decoding (`generate`, behind its top-k, threshold and factor methods)."""
    method = {"confidence_topk": "confidence", "topk_margin": "margin", "entropy_topk": "entropy",
              "confidence_threshold": "confidence", "confidence_factor": "confidence"}[unmasking]
    options = {"unmasking": method, "block_length": block}
    options.update({"steps": steps} if steps else {"threshold": threshold} if threshold else {"factor": factor, **COMPAT})
    rule = f"steps={steps}" if steps else f"threshold={threshold:g}" if threshold else f"factor={factor:g}"
    return llada_case(
        f"generate, {unmasking}", "generate", f"block={block} {rule}", options,
        lambda model, prompt, mask_id: generate(model, prompt, steps=steps, gen_length=GEN_LENGTH, block_length=block,
                                                unmasking=unmasking, mask_id=mask_id, threshold=threshold,
                                                factor=factor),
        note="compat=parallelbench (the released factor rule)" if factor else "",
        control={"compat": None} if factor else None)


def dus_case(dus_generate_llada: Callable, base: int, threshold: float, block: int) -> Case:
    return adaptive_case(
        dus_generate_llada, "DUS", "dus", f"block={block} base={base} remasking threshold={threshold:g}",
        {"dus_base": base, "dus_remasking_threshold": threshold, "block_length": block},
        {"sampler": "dus", "dus_base": base, "dus_remasking_threshold": threshold, "block_length": block})


def rcr_case(generate_rcr: Callable, steps: int, block: int) -> Case:
    return llada_case(
        "RCR", "rcr", f"block={block} steps={steps}",
        {"sampler": "rcr", "steps": steps, "block_length": block},
        lambda model, prompt, mask_id: generate_rcr(model, prompt, steps=steps, gen_length=GEN_LENGTH,
                                                    block_length=block, remasking="rcr", overtime_conf=True,
                                                    mask_id=mask_id))


def remdm_case(generate_remdm: Callable, steps: int, block: int, revisions: int, number: int) -> Case:
    return llada_case(
        "ReMDM", "remdm", f"block={block} steps={steps} n={revisions} k={number}",
        {"sampler": "remdm", "steps": steps, "block_length": block, "remdm_steps": revisions, "remdm_number": number},
        lambda model, prompt, mask_id: generate_remdm(model, prompt, steps=steps, gen_length=GEN_LENGTH,
                                                      block_length=block, remdm_steps=revisions,
                                                      remdm_number=number, mask_id=mask_id))


def llada_cases(root: Path) -> list[Case]:
    def function(key: str, name: str) -> Callable:
        return getattr(import_reference(root, key), name)

    # the leaderboard's sweeps decode one block of the task's length; smaller blocks check per-block state
    cases = []
    if present(root, "wino"):
        wino = function("wino", "wino_generate_llada")
        cases += [wino_case(wino, *setting) for setting in ((0.6, 0.9, 32), (0.8, 0.7, 16), (0.5, 0.95, 8))]
    if present(root, "slowfast"):
        slowfast = function("slowfast", "slowfast_generate_llada")
        # high=1: only probabilities that round to exactly 1 pass (float32 softmax, as the reference's)
        cases += [slowfast_case(slowfast, *setting) for setting in ((0.9, 0.3, 32), (0.6, 0.3, 16), (1.0, 0.5, 32))]
    if present(root, "klass"):
        klass = function("klass", "klass_generate_llada")
        cases += [klass_case(klass, *setting) for setting in ((0.9, 0.01, 2, 32), (0.7, 0.05, 2, 16), (0.6, 0.05, 3, 32))]
        # k > 1 with thresholds low enough that ready steps leave fewer masks than a later fallback quota
        # (in 6, 3 and 5 of the 10 prompts here; without compat 5/10, 7/10 and fewer decode the same)
        cases += [klass_case(klass, *setting, compat=True) for setting in (
            (0.3, 0.5, 2, 32, 16), (0.2, 1.0, 2, 32, 8), (0.1, 2.0, 2, 32, 16))]
    if present(root, "generate"):
        generate = function("generate", "generate")
        cases += [generate_case(generate, unmasking, block, steps=steps) for unmasking, block, steps in (
            ("confidence_topk", 32, 16), ("topk_margin", 8, 16), ("entropy_topk", 32, 8))]
        cases += [generate_case(generate, "confidence_threshold", 8, threshold=0.7)]
        cases += [generate_case(generate, "confidence_factor", block, factor=factor)
                  for factor in (0.7, 1.0, 1.9) for block in (32, 8)]
    if present(root, "dus"):
        dus = function("dus", "dus_generate_llada")
        cases += [dus_case(dus, *setting) for setting in ((2, 0.3, 32), (2, 0.3, 8), (3, 0.6, 16))]
    if present(root, "rcr"):
        rcr = function("rcr", "generate_rcr")
        cases += [rcr_case(rcr, *setting) for setting in ((32, 32), (16, 16), (12, 8))]
    if present(root, "remdm"):
        remdm = function("remdm", "generate_remdm")
        cases += [remdm_case(remdm, *setting) for setting in ((32, 32, 1, 1), (16, 16, 2, 1), (32, 8, 1, 2))]
    return cases


def dream_cases(root: Path, model_dir: Path) -> list[Case]:
    cases = sample_block_cases(root, model_dir) if (root / DREAM_UTILS_FILES["refactor"]).is_file() else []
    if not present(root, "klass_dream"):
        return cases
    # klass_sample.py imports its helpers from ParallelBench's copy of Dream's generation utilities
    utilities = root / DREAM_UTILS_FILES["refactor"]
    sys.modules[DREAM_UTILS] = import_file(utilities if utilities.is_file() else model_dir / "generation_utils.py",
                                           DREAM_UTILS)
    klass_sample_dream = import_reference(root, "klass_dream").klass_sample_dream

    def run_reference(model, prompt_ids: list[int], conf: float, kl: float, history: int, steps: int = GEN_LENGTH,
                      logits_hook: Callable | None = None) -> tuple[list[int], int]:
        counted = CountingModel(model)
        generation_config = SimpleNamespace(
            output_history=False, return_dict_in_generate=False, max_length=len(prompt_ids) + GEN_LENGTH,
            mask_token_id=model.config.mask_token_id, steps=steps, temperature=0.0, top_p=None, top_k=None)
        out = klass_sample_dream(counted, torch.tensor([prompt_ids]), None, generation_config,
                                 generation_logits_hook_func=logits_hook, conf_threshold=conf, kl_threshold=kl,
                                 kl_history_length=history)
        return out[0, len(prompt_ids):].tolist(), counted.calls

    def case(conf: float, kl: float, history: int, compat: bool = False, note: str = "",
             batch_size: int | None = None) -> Case:
        return Case(
            "KLASS (Dream)", f"gen={GEN_LENGTH} steps={GEN_LENGTH} conf={conf!r} kl={kl:g} history={history}",
            {"gen_length": GEN_LENGTH, "sampler": "klass", "klass_conf_threshold": conf, "klass_kl_threshold": kl,
             "klass_kl_history": history, **(COMPAT if compat else {})},
            lambda model, prompt_ids: run_reference(model, prompt_ids, conf, kl, history), FILES["klass_dream"],
            note=note or "ready at conf >= threshold (klass_sample.py:134), ours >: differ on exact ties only",
            batch_size=batch_size, control={"compat": None} if compat else None,
        )

    def tie_threshold(prompt_ids: list[int]) -> float:
        """A confidence threshold that a position's confidence equals exactly: the second highest
        confidence among the masks at the reference's second step on this prompt (with a KL bound no
        distribution misses, every position is stable there; `>=` then commits two positions, `>` one)."""
        steps = []
        run_reference(load_hub_model(model_dir), prompt_ids, 2.0, 100.0, 2, steps=2,
                      logits_hook=lambda i, x, logits: steps.append((x.clone(), logits.clone())) or logits)
        x, logits = steps[1]
        confidence = torch.softmax(logits.double(), -1).max(-1).values[x == model_config_mask]
        return confidence.sort(descending=True).values[1].item()

    model_config_mask = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))["mask_token_id"]
    prompts = make_prompts(AutoTokenizer.from_pretrained(model_dir), TIED_PROMPTS)
    ties = [case(tie_threshold(prompt), 100.0, 2, compat=True, batch_size=1,
                 note=f"compat=parallelbench, batch 1; threshold = a confidence of prompt {index} "
                      "(klass_sample.py:134: >=)")
            for index, prompt in enumerate(prompts)]
    return cases + [case(*setting) for setting in ((0.9, 0.01, 2), (0.7, 0.01, 2), (0.6, 0.05, 3))] + ties


def cases(reference: Path, model_dir: Path) -> list[Case]:
    model_type = json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("model_type", "")
    if model_type.lower() == "dream":
        return dream_cases(reference, model_dir)
    if model_type.lower() == "llada":
        return llada_cases(reference)
    raise ValueError(f"{model_dir}: model_type {model_type!r}; ParallelBench's methods run on a llada or Dream "
                     "checkpoint")
