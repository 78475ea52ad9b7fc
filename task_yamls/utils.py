"""lm-eval glue for ParallelBench: load the items, give each its own one-shot example, score outputs.

The scoring itself lives in `parallelbench_lmeval.scoring`; this file only maps items and
outputs onto it. Items ship in `data/` beside this file (the released benchmark, unchanged);
generated tasks draw theirs with `parallelbench_lmeval.generate`, prompt variants come from
`parallelbench_lmeval.variants`.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
from lm_eval.api.samplers import ContextSampler

from parallelbench_lmeval.generate.families import family as generated_family
from parallelbench_lmeval.generate.items import DEFAULT_NUM_ITEMS, generate_items
from parallelbench_lmeval.generate.sources import released_config
from parallelbench_lmeval.lm_eval_logs import quiet_custom_dataset_notice
from parallelbench_lmeval.options import as_bool, positive_int
from parallelbench_lmeval.scoring import grammar as grammar_checks
from parallelbench_lmeval.scoring import lists, puzzles, text
from parallelbench_lmeval.scoring.scorers import scorers_record, warn_if_not_comparable
from parallelbench_lmeval.stats import decode_stats
from parallelbench_lmeval.variants import apply_variant

DATA_DIR = Path(__file__).resolve().parent / "data"
quiet_custom_dataset_notice()  # lm-eval's notice for every task built by a Python function: ours all are
# Text Writing: the released metric name -> the task's scores (besides `pb_acc`, which is the grammar score).
TEXT_WRITING_SCORES = {
    "summary_score": ("grammar", "rougeL", "rouge1", "rouge2", "score"),
    "paraphrase_score": ("grammar", "bertscore", "inv_bleu", "score"),
    "sentence_to_words_score": ("grammar", "inclusion", "score"),
}


def render_prompt(template: str, fields: dict) -> str:
    """`str.format` with the item's input; templates storing `\\n` literally (Sudoku) get real newlines after."""
    prompt = template.format(**fields)
    return prompt.replace("\\n", "\n") if "\\n" in template else prompt


def answer_text(answer) -> str:
    """The answer as the model should write it: the string, or an object answer's `example` field."""
    return answer if isinstance(answer, str) else answer.get("example", "")


def reference_text(item: dict) -> str:
    """What the log shows as the target: the gold answer, summary, source sentence or example sentence."""
    answer = item["answer"]
    if isinstance(answer, str):
        return answer
    return answer.get("example") or answer.get("summary") or answer.get("text") or ", ".join(answer.get("words", []))


def item_to_doc(item: dict, template: str, metric: str) -> dict:
    examples = [
        {"question": render_prompt(template, example["input"]), "answer": answer_text(example["answer"])}
        for example in item["input"].get("icl_examples") or []
    ]
    return {
        "question": render_prompt(template, item["input"]),
        "answer": reference_text(item),
        "examples": json.dumps(examples),
        "metric": metric,
        "item": json.dumps(item),
    }


def read_items(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def task_items(
    released_task: str | None, generated: dict | None, items_file: str | None, num_items, allow_released
) -> tuple[str, list[dict]]:
    """The released task config key whose template and metric apply, and the items: released,
    read from a generated task folder's file, or drawn by the generator."""
    if generated is None:
        return released_task, read_items(DATA_DIR / f"{released_task}.jsonl")
    family, size = generated_family(generated["family"]), generated["n"]
    if items_file:
        return family.config_key(size), read_items(Path(items_file))
    count = positive_int("num_items", num_items) if num_items is not None else DEFAULT_NUM_ITEMS
    items = generate_items(family, size, generated["seed"], count, allow_released=as_bool("allow_released", allow_released))
    return family.config_key(size), items


def load_items(
    released_task: str | None = None,
    generated: dict | None = None,
    items_file: str | None = None,
    variant: str | None = None,
    num_items=None,
    allow_released=False,
    scorers: str | None = None,
    grammar: str | None = None,
    languagetool_url: str | None = None,
    bertscore_model: str | None = None,
    bertscore_num_layers: int | None = None,
    scored_with: dict | None = None,
    n=None,
    **_metadata,
) -> datasets.DatasetDict:
    """`custom_dataset` of every task: its items as one `test` split.

    `released_task` names the released items; `generated` ({family, n, seed}, the generated tasks'
    YAML) draws items of any size instead (`parallelbench_lmeval.generate`), or reads the ones a
    task folder froze in `items_file`; `variant` rewrites the prompt and examples
    (`parallelbench_lmeval.variants`). `num_items` and `allow_released` come from `--metadata`
    and apply to generated tasks.

    lm-eval calls it while building the task, before any generation, so the scorers a task
    needs (grammar checker, BERTScore model) are started here and a missing one fails the run
    early. `scorers`, `grammar`, `languagetool_url`, `bertscore_model`, `bertscore_num_layers`
    come from `--metadata` (environment variables otherwise); other metadata (model args,
    version) is ignored. `scored_with` is the Text Writing YAMLs' `dataset_kwargs` entry: it is
    filled with the scorers in use (`scorers_record`), and lm-eval writes the task's
    config, this dict included, into the results JSON.
    """
    if n is not None:
        raise ValueError(
            f"--metadata n={n!r}: the size of generated items is part of the task name, e.g. "
            f"--tasks parallelbench_gen_copy_n{n} (see `parallelbench generate --help`); released tasks keep their items"
        )
    config_key, items = task_items(released_task, generated, items_file, num_items, allow_released)
    config = released_config(config_key)
    metric, template = config["metric"], config["prompt"]
    if variant:
        template, items = apply_variant(variant, config_key, template, items)
    docs = [item_to_doc(item, template, metric) for item in items]
    if metric in TEXT_WRITING_SCORES:
        backend, url = grammar_checks.grammar_settings(grammar, languagetool_url, scorers)
        bertscore = text.bertscore_settings(bertscore_model, bertscore_num_layers, scorers) if metric == "paraphrase_score" else None
        grammar_checks.issue_counter(backend, url)
        if bertscore is not None:
            text.bertscorer(*bertscore)
        record = scorers_record(backend, url, bertscore)
        warn_if_not_comparable(record)
        if scored_with is not None:
            scored_with.clear()
            scored_with.update(record)
        for doc in docs:
            doc.update(grammar_backend=backend, languagetool_url=url)
            if bertscore is not None:
                doc.update(bertscore_model=bertscore[0], bertscore_num_layers=bertscore[1])
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


class OwnExampleSampler(ContextSampler):
    """The shots of the item itself: each doc carries its examples (`examples`, JSON, each a
    `question` and an `answer`), which lm-eval renders as docs of their own.

    Each released item carries its own example (a variant may carry more), so the "sampled"
    shots come from the test doc; it needs `fewshot_config.split` equal to `test_split` so
    lm-eval passes that doc in.
    """

    def sample(self, n, eval_doc=None, df=None, **kwargs):
        if eval_doc is None or "examples" not in eval_doc:
            raise ValueError("OwnExampleSampler needs the test item (fewshot_config.split = test_split)")
        examples = json.loads(eval_doc["examples"])
        if not 0 < n <= len(examples):
            raise ValueError(
                f"these ParallelBench items carry {len(examples)} example(s) of their own: "
                f"num_fewshot must be 0 to {len(examples)}, got {n}"
            )
        return examples[:n]


def item_scores(output: str, doc: dict) -> dict[str, float]:
    """Every metric of the task for one decoded output (SPEC §3), plus `pb_acc`, the leaderboard accuracy."""
    item = json.loads(doc["item"])
    answer, metric = item["answer"], doc["metric"]
    if metric in lists.WAITING_LINE_RULES:
        if isinstance(answer, str):
            gold, original, new = lists.parse_list(answer), [], ""
        else:
            gold, original, new = [], answer["input"], answer.get("word", "")
        scores = lists.waiting_line_scores(output, metric, gold, original, new)
        return scores | {"pb_acc": scores["score"]}
    if metric == "latin_square_score":
        score = puzzles.latin_square_score(output, answer["symbols"])
        return {"score": score, "pb_acc": score}
    if metric == "sudoku_score":
        score = puzzles.sudoku_score(output, answer)
        return {"score": score, "pb_acc": score}
    if metric not in TEXT_WRITING_SCORES:
        raise ValueError(f"unknown ParallelBench metric {metric!r}")
    output = output.strip()
    if not output or text.beyond_scoring_bound(output):
        return dict.fromkeys((*TEXT_WRITING_SCORES[metric], "pb_acc"), 0.0)
    grammar_ok = grammar_checks.grammar_score(output, doc["grammar_backend"], doc["languagetool_url"])
    scores = {"grammar": grammar_ok, "pb_acc": grammar_ok}
    if metric == "summary_score":
        rouge = text.rouge_scores(output, answer["summary"])
        return scores | rouge | {"score": rouge["rougeL"] * grammar_ok}
    if metric == "sentence_to_words_score":
        inclusion = float(text.includes_all(output, answer["words"]))
        return scores | {"inclusion": inclusion, "score": inclusion * grammar_ok}
    source = answer["text"]
    scorer = text.bertscorer(doc["bertscore_model"], doc["bertscore_num_layers"])
    similarity = text.bertscore_f1(output, source, scorer)
    inv_bleu = 1.0 - text.sentence_bleu(output, source)
    return scores | {"bertscore": similarity, "inv_bleu": inv_bleu, "score": inv_bleu * similarity * grammar_ok}


def process_results(doc: dict, results: list) -> dict[str, float]:
    """lm-eval hook: the task's scores, plus the decoding statistics the `dllm` model attached (if any)."""
    output = results[0]
    return item_scores(str(output), doc) | decode_stats(output)
