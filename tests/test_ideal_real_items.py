"""The ideal model on the released items, through the backend `--model dllm pretrained=ideal` uses."""

import pytest
import torch

from ideal_helpers import RELEASED, prompt, released, score
from parallelbench_lmeval.decoding import DecodingConfig
from parallelbench_lmeval.ideal import IdealBackend, decode, parse_prompt

ZERO_CORRELATION_TASKS = ("copy", "sort", "reverse", "replace_index", "insert_index", "remove_index", "sudoku")
STRATEGIES = [
    {"unmasking": "confidence", "k": 1},
    {"unmasking": "confidence", "k": 2},
    {"unmasking": "confidence", "k": 64},
    {"unmasking": "random", "k": 3},
    {"unmasking": "margin", "k": 2},
    {"unmasking": "entropy", "k": 4},
    {"unmasking": "left_to_right", "k": 2},
    {"unmasking": "confidence", "k": 2, "block_length": 4},
    {"unmasking": "confidence", "steps": 1},
    {"unmasking": "confidence", "threshold": 0.5},
    {"unmasking": "confidence", "factor": 1.0},
    {"unmasking": "random", "k": 64, "temperature": 1.0},
]


def run(task, options, chat=False, folder=None, seed=0):
    config, items = released(task, folder)
    contexts = [prompt(config["prompt"], item, chat) for item in items]
    decoding = DecodingConfig.from_options(gen_length=64, **options)
    generators = [torch.Generator().manual_seed(seed + i) for i in range(len(contexts))]
    texts, nfes, counts, *_ = IdealBackend().generate(contexts, decoding, generators)
    scores = [score(task, config["metric"], text, item) for text, item in zip(texts, items)]
    return sum(scores) / len(scores), nfes, counts


@pytest.mark.parametrize("task", ZERO_CORRELATION_TASKS)
def test_zero_correlation_tasks_score_one_with_every_strategy(task):
    for options in STRATEGIES:
        assert run(task, options)[0] == 1.0, options


@pytest.mark.parametrize("task", list(RELEASED))
@pytest.mark.parametrize("chat", [False, True])
def test_one_by_one_solves_every_task(task, chat):
    # C(Y|X) > 0 does not matter when nothing is decoded in parallel
    accuracy, nfes, counts = run(task, {"unmasking": "confidence", "k": 1}, chat=chat)
    assert accuracy == 1.0
    assert nfes == counts  # one item per step


def test_parallel_decoding_fails_where_the_theory_says():
    assert run("shuffle", {"k": 64})[0] < 0.5  # one step: n!/n^n-like odds
    assert run("replace_random", {"k": 64})[0] == 0.0  # greedy keeps every item
    assert run("latin_square", {"k": 16})[0] < 0.1


def test_fifteen_person_lists_are_decoded_analytically():
    assert run("shuffle", {"k": 1}, folder="waiting_line_n15")[0] == 1.0
    assert run("shuffle", {"k": 15}, folder="waiting_line_n15")[0] == 0.0  # 15!/15^15 ~ 3e-6
    accuracy, nfes, counts = run("replace_random", {"k": 1}, folder="waiting_line_n15")
    assert accuracy == 1.0 and set(counts) == {15}


@pytest.mark.parametrize("task", [t for t in RELEASED if t != "shuffle"])
def test_every_valid_answer_scores_one(task):
    # the ideal model's answer set is exactly what the released metric accepts (5 items per task)
    config, items = released(task)
    for item in items[::20][:5]:
        problem = parse_prompt(prompt(config["prompt"], item, chat=False))
        assert all(score(task, config["metric"], problem.render(row), item) == 1.0 for row in problem.distribution.answers[0].tolist())


def test_shuffle_answers_are_scored_as_the_metric_scores_them():
    # Shuffle's answers are analytic: sampled decodings are valid exactly when the metric says so
    config, items = released("shuffle")
    problem = parse_prompt(prompt(config["prompt"], items[0], chat=False))
    identity = torch.arange(problem.length)[None]
    assert not problem.distribution.contains(identity).item()
    assert score("shuffle", config["metric"], problem.render(identity[0].tolist()), items[0]) == 0.0
    tokens, _ = decode([problem] * 200, DecodingConfig.from_options(gen_length=3, k=3, temperature=1.0), torch.Generator().manual_seed(0))
    valid = problem.distribution.contains(tokens).tolist()
    assert 0 < sum(valid) < 200
    assert valid == [score("shuffle", config["metric"], problem.render(row), items[0]) == 1.0 for row in tokens.tolist()]


def test_text_writing_prompt_is_refused_with_the_supported_tasks():
    with pytest.raises(ValueError, match="Waiting Line and Puzzle prompts only.*copy.*latin_square, sudoku"):
        IdealBackend().generate(["Summarize the following conversation."], DecodingConfig.from_options(gen_length=64), None)


def test_last_question_wins_over_the_example():
    config, items = released("copy")
    problem = parse_prompt(prompt(config["prompt"], items[2], chat=True))
    assert problem.render(list(range(problem.length))) == items[2]["answer"]


def test_lm_eval_runs_the_ideal_model(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import lm_eval

    from parallelbench_lmeval.registration import ensure_registered

    ensure_registered()
    results = lm_eval.simple_evaluate(
        model="dllm",
        model_args="pretrained=ideal,unmasking=confidence,k=2",
        tasks=["parallelbench_reverse", "parallelbench_sudoku", "parallelbench_shuffle"],
        device="cpu",
        batch_size=64,
    )["results"]
    assert results["parallelbench_reverse"]["score,none"] == 1.0
    assert results["parallelbench_sudoku"]["score,none"] == 1.0
    assert 0 < results["parallelbench_shuffle"]["score,none"] < 1


def test_positions_left_masked_drop_out_of_the_answer():
    # DUS never revisits the tokens it re-masks: their ids (the mask id, past the alphabet) must not
    # crash the rendering, and the rest of the answer is still written
    config, items = released("copy")
    problem = parse_prompt(prompt(config["prompt"], items[0], chat=False))
    ids = list(range(problem.length))
    ids[1] = len(problem.alphabet)
    assert problem.render(ids) == problem.render(ids[:1] + ids[2:])


@pytest.mark.parametrize("sampler", ["wino", "slowfast", "klass", "dus", "eb", "pc", "rcr", "remdm"])
def test_every_sampler_decodes_the_released_items(sampler):
    tasks = ("copy", "shuffle", "sudoku")
    data = {task: released(task) for task in tasks}
    contexts = [prompt(data[task][0]["prompt"], data[task][1][0], chat=False) for task in tasks]
    options = {"block_length": 4} if sampler == "dus" else {"pc_frequencies": "uniform"} if sampler == "pc" else {}
    config = DecodingConfig.from_options(gen_length=32, sampler=sampler, **options)
    output = IdealBackend().generate(contexts, config, [torch.Generator().manual_seed(i) for i in range(len(contexts))])
    scores = {task: score(task, data[task][0]["metric"], text, data[task][1][0]) for task, text in zip(tasks, output.texts)}
    # copy and this sudoku have one answer each: the ideal model knows it at every position, whatever the method
    assert scores["copy"] == scores["sudoku"] == 1.0
    assert 0.0 <= scores["shuffle"] <= 1.0 and all(nfe >= 1 for nfe in output.nfe)


@pytest.mark.parametrize("options", [
    {"unmasking": "random", "k": 2, "temperature": 1.0},  # sampled, random order: every draw is the row's own
    {"unmasking": "confidence", "threshold": 0.7},
    {"unmasking": "random", "threshold": 0.7, "temperature": 1.0},  # adaptive: rows padded, own draws only
    {"sampler": "wino", "wino_threshold": 0.5},  # the verification view and its noise
    {"sampler": "klass"},
])
def test_one_batch_decodes_each_prompt_as_alone(options):
    """`pretrained=ideal` decodes all of a run's requests as one batch (mixed tasks, lengths and
    alphabets): each prompt's output and NFE are those it gets decoded alone."""
    contexts = [prompt(released(task)[0]["prompt"], item, chat=False)
                for task in ("copy", "shuffle", "replace_random", "insert_random", "latin_square", "sudoku")
                for item in released(task)[1][::37]]
    config = DecodingConfig.from_options(gen_length=64, **options)

    def generators():
        return [torch.Generator().manual_seed(seed) for seed in range(len(contexts))]

    together = IdealBackend().generate(contexts, config, generators())
    alone = [IdealBackend().generate([context], config, [generator]) for context, generator in zip(contexts, generators())]
    assert together.texts == [output.texts[0] for output in alone]
    assert together.nfe == [output.nfe[0] for output in alone]
    assert len({len(parse_prompt(c).alphabet) for c in contexts}) > 1 and len(set(together.nfe)) > 1


def test_the_simulation_decodes_on_one_thread_and_gives_the_others_back(monkeypatch):
    """Its tensors are tiny: splitting them between threads only makes them wait (4x slower on a
    busy 2-core machine); the thread count of the process is restored after each batch."""
    import parallelbench_lmeval.ideal.model as ideal_model

    seen, real_decode = [], ideal_model.decode_result

    def recording(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(ideal_model, "decode_result", recording)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        context = prompt(released("copy")[0]["prompt"], released("copy")[1][0], chat=False)
        IdealBackend().generate([context], DecodingConfig.from_options(gen_length=64), [torch.Generator()])
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
