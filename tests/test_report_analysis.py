"""The report's numbers (SPEC §6) on hand-made inputs with known answers."""

import math

import pytest

from parallelbench_lmeval.report import analysis
from parallelbench_lmeval.report.runs import (
    canonical_options,
    nominal_tokens_per_step,
    load_configurations,
    strategy_id,
)
from report_helpers import write_run

TASKS = ("parallelbench_copy", "parallelbench_sudoku")


def test_pb_score_is_the_largest_tokens_per_step_reaching_x():
    points = [(1.0, 90.0), (2.0, 80.0), (4.0, 72.0), (8.0, 50.0), (16.0, 85.0)]
    assert analysis.pb_score(points, 80) == 16.0  # the largest, not the first drop
    assert analysis.pb_score(points, 86) == 1.0
    assert analysis.pb_score(points, 95) == 0.0
    assert analysis.pb_scores(points, (80, 70)) == {"80": 16.0, "70": 16.0}
    # a mean that lands a rounding error below x still reaches it
    assert analysis.pb_score([(3.0, analysis.mean([70.0, 90.0, 80.0 - 1e-12]))], 80) == 3.0
    assert analysis.pb_score([(math.nan, 100.0)], 80) == 0.0


def test_center_of_mass_and_slope():
    assert analysis.center_of_mass([1, 2, 4], [1.0, 0.5, 0.25]) == pytest.approx(3 / 1.75)
    assert math.isnan(analysis.center_of_mass([1, 2], [0.0, 0.0]))
    assert analysis.slope([2, 4, 8], [90, 80, 60]) == pytest.approx(-5.0)
    assert math.isnan(analysis.slope([2, 2], [1, 0]))


def test_oracle_takes_each_items_best_score_at_its_largest_tokens_per_step():
    runs = [  # thresholds 0.9, 0.7, 0.5
        {0: (1.0, 2.0), 1: (0.0, 2.0), 2: (1.0, 2.0)},
        {0: (1.0, 4.0), 1: (0.0, 4.0), 2: (1.0, 5.0)},
        {0: (0.0, 8.0), 1: (0.0, 8.0), 2: (1.0, 9.0), 3: (1.0, 9.0)},  # item 3 is not in every run
    ]
    accuracy, tps, items = analysis.oracle_items(runs)
    assert items == 3
    assert accuracy == pytest.approx(2 / 3)
    assert tps == pytest.approx((4.0 + 8.0 + 9.0) / 3)


def test_options_strategies_and_nominal_tokens_per_step():
    assert canonical_options("pretrained=x,k=2,unmasking=margin", {"k": 2.0, "temperature": 0}) == {
        "unmasking": "margin", "k": 2}
    assert canonical_options("pretrained=x,threshold=0.9", "block_length=8") == {"block_length": 8, "threshold": 0.9}
    expected = {
        (): "confidence-topk", (("unmasking", "random"),): "random", (("unmasking", "entropy"),): "entropy-topk",
        (("unmasking", "margin"),): "topk-margin", (("unmasking", "left_to_right"),): "l2r",
        (("threshold", 0.9),): "confidence-threshold", (("factor", 1.1),): "confidence-factor",
        (("unmasking", "margin"), ("threshold", 0.9)): "margin-threshold",
        (("sampler", "edit"), ("edit_threshold", 0.9)): "edit",  # LLaDA2.1's editing
    }
    for options, strategy in expected.items():
        assert strategy_id("dllm", dict(options)) == strategy
    assert strategy_id("hf", {}) == "autoregressive"
    # a top-k run on another schedule than its family's is a strategy of its own
    assert canonical_options("pretrained=x,k=2,schedule=dream", family="dream") == {"k": 2}
    assert canonical_options("pretrained=x,k=2,schedule=even", family="llada") == {"k": 2}
    even_dream = canonical_options("pretrained=x,k=2,schedule=even", family="dream")
    assert strategy_id("dllm", even_dream) == "confidence-topk+even-schedule"
    assert strategy_id("dllm", canonical_options("pretrained=x,k=2,schedule=dream,dream_eps=0.001",
                                                 family="dream")) == "confidence-topk+dream-schedule"
    # compat=parallelbench runs are named as such; compat=none is the default
    assert strategy_id("dllm", canonical_options("pretrained=x,factor=1.0,compat=parallelbench")) == "confidence-factor+compat"
    assert strategy_id("dllm", canonical_options("pretrained=x,factor=1.0,compat=none")) == "confidence-factor"
    assert strategy_id("dllm", canonical_options("pretrained=x,sampler=wino,compat=parallelbench")) == "wino-plain+compat"
    assert nominal_tokens_per_step("hf", {}, 32) == 1.0
    assert nominal_tokens_per_step("dllm", {"k": 4}, 32) == 4.0
    assert nominal_tokens_per_step("dllm", {"steps": 8}, 32) == 4.0
    assert nominal_tokens_per_step("dllm", {}, 32) == 1.0
    assert math.isnan(nominal_tokens_per_step("dllm", {"threshold": 0.9}, 32))
    assert math.isnan(nominal_tokens_per_step("dllm", {"sampler": "edit"}, 32))


def test_oracle_from_threshold_sweep_samples(tmp_path):
    items = {
        0.9: {TASKS[0]: [(0, 1.0, 2.0), (1, 1.0, 2.0)], TASKS[1]: [(0, 1.0, 1.0), (1, 0.0, 1.0)]},
        0.5: {TASKS[0]: [(0, 1.0, 6.0), (1, 0.0, 8.0)], TASKS[1]: [(0, 0.0, 3.0), (1, 0.0, 3.0)]},
    }
    for i, (threshold, rows) in enumerate(items.items()):
        write_run(tmp_path / str(threshold), "m", "dllm", "pretrained=m", f"threshold={threshold}",
                  {t: (0.5, 3.0, 32) for t in TASKS}, f"2025-01-01T00-00-0{i}", rows)
    configurations = load_configurations([tmp_path])
    oracle = analysis.oracle_point(configurations, list(TASKS))
    # copy: item 0 best 1 at 6.0, item 1 best 1 at 2.0; sudoku: item 0 best 1 at 1.0, item 1 best 0 at 3.0
    assert oracle["tasks"][TASKS[0]] == {"accuracy": 100.0, "tokens_per_step": 4.0, "items": 2}
    assert oracle["tasks"][TASKS[1]] == {"accuracy": 50.0, "tokens_per_step": 2.0, "items": 2}
    assert oracle["accuracy"] == pytest.approx(75.0)
    assert oracle["tokens_per_step"] == pytest.approx(3.0)
    assert oracle["configurations"] == ["threshold=0.5", "threshold=0.9"]


def test_task_characterization_from_topk_and_semi_ar_runs(tmp_path):
    task = TASKS[0]
    date = iter(f"2025-01-01T00-00-{i:02d}" for i in range(20))
    for unmasking in ("confidence", "random"):
        for k, accuracy in ((1, 1.0), (2, 0.5), (4, 0.25)):
            write_run(tmp_path / f"{unmasking}{k}", "m", "dllm", "pretrained=m", f"unmasking={unmasking},k={k}",
                      {task: (accuracy, float(k), 16)}, next(date))
    for block, accuracy in ((2, 0.9), (4, 0.8), (8, 0.6)):
        write_run(tmp_path / f"block{block}", "m", "dllm", "pretrained=m", f"unmasking=confidence,k=2,block_length={block}",
                  {task: (accuracy, 2.0, 16)}, next(date))
    # adaptive runs and autoregressive models take no part
    write_run(tmp_path / "thr", "m", "dllm", "pretrained=m", "threshold=0.9", {task: (0.0, 9.0, 16)}, next(date))
    write_run(tmp_path / "ar", "ar", "hf", "pretrained=ar", None, {task: (0.0, None, 16)}, next(date))
    result = analysis.characterize_tasks(load_configurations([tmp_path]))[task]
    assert result["parallelizability"] == pytest.approx(3 / 1.75)
    # block lengths 2, 4, 8 and the whole canvas (16, the any-order k=2 run): accuracy 90, 80, 60, 50
    assert result["slope"] == pytest.approx(-320 / 115)
    assert result["order_preference"] == pytest.approx(320 / 115)
    assert result["runs"] == 2


def test_pb_scores_over_configurations_average_the_tasks(tmp_path):
    date = iter(f"2025-01-01T00-00-{i:02d}" for i in range(20))
    for k, (copy, sudoku) in {1: (1.0, 0.8), 2: (0.9, 0.6), 4: (0.8, 0.6)}.items():
        write_run(tmp_path / f"k{k}", "m", "dllm", "pretrained=m", f"k={k}", {TASKS[0]: (copy, None, 32),
                  TASKS[1]: (sudoku, None, 64)}, next(date))
    # a configuration without every task is left out of the averages
    write_run(tmp_path / "k8", "m", "dllm", "pretrained=m", "k=8", {TASKS[0]: (1.0, None, 32)}, next(date))
    configurations = load_configurations([tmp_path])
    summary = analysis.strategy_summary(configurations, list(TASKS))
    assert (summary["PB80"], summary["PB75"], summary["PB70"]) == (1.0, 2.0, 4.0)
    assert [c["accuracy"] for c in summary["configurations"]] == pytest.approx([90.0, 75.0, 70.0])


def test_aup_against_a_hand_computed_curve():
    # (tokens per step, accuracy %), best accuracy 82, alpha 3, drop 5. Sorted: the first point is
    # (1, 80), so points below 75 are left out: (4, 70). W(y) = exp(-3 (1 - y / 82)):
    # W(80) = e^(-6/82) = 0.929440, W(78) = e^(-12/82) = 0.863862, W(76) = e^(-18/82) = 0.802912.
    # AUP = 1 x 80 + (2 - 1) (78 W(78) + 80 W(80)) / 2 + (8 - 2) (76 W(76) + 78 W(78)) / 2
    #     = 80 + (67.3812 + 74.3552) / 2 + 3 (61.0213 + 67.3812) = 80 + 70.8682 + 385.2075 = 536.0757
    points = [(8.0, 76.0), (1.0, 80.0), (4.0, 70.0), (2.0, 78.0)]
    assert analysis.aup(points, best=82.0) == pytest.approx(536.0757, abs=1e-4)
    assert analysis.aup_weight(82.0, 82.0) == 1.0 and analysis.aup_weight(90.0, 82.0) == 1.0
    # one point (an autoregressive model): its rectangle, unweighted
    assert analysis.aup([(1.0, 60.0)], best=90.0) == 60.0
    # of equal tokens per step the most accurate counts; nothing decoded or no point: nan
    assert analysis.aup([(1.0, 80.0), (2.0, 70.0), (2.0, 78.0), (8.0, 76.0)], best=82.0) == pytest.approx(536.0757, abs=1e-4)
    assert math.isnan(analysis.aup([(math.nan, 80.0)], best=80.0)) and math.isnan(analysis.aup([], best=80.0))
    # every accuracy 0 (the best too): 0, not a division by zero
    assert analysis.aup([(1.0, 0.0), (2.0, 0.0)], best=0.0) == 0.0


def test_aup_per_strategy_is_the_mean_over_tasks_against_each_tasks_best_in_the_report(tmp_path):
    date = iter(f"2025-01-01T00-00-{i:02d}" for i in range(20))
    for k, (copy, sudoku) in {1: (1.0, 0.8), 2: (0.98, 0.78)}.items():
        write_run(tmp_path / f"k{k}", "m", "dllm", "pretrained=m", f"k={k}", {TASKS[0]: (copy, None, 32),
                  TASKS[1]: (sudoku, None, 64)}, next(date))
    # another model sets sudoku's best accuracy to 90 %
    write_run(tmp_path / "other", "other", "dllm", "pretrained=other", "k=1", {TASKS[1]: (0.9, None, 64)}, next(date))
    configurations = load_configurations([tmp_path])
    best = analysis.best_accuracies(configurations)
    assert best == {TASKS[0]: 100.0, TASKS[1]: 90.0}
    result = analysis.strategy_aup([c for c in configurations if c.model == "m"], list(TASKS), best)
    copy = 100 + (98 * math.exp(-3 * 0.02) + 100) / 2
    sudoku = 80 + (78 * math.exp(-3 * (1 - 78 / 90)) + 80 * math.exp(-3 * (1 - 80 / 90))) / 2
    assert result["AUP_tasks"] == pytest.approx({TASKS[0]: copy, TASKS[1]: sudoku})
    assert result["AUP"] == pytest.approx((copy + sudoku) / 2)
    assert math.isnan(analysis.strategy_aup([], list(TASKS), best)["AUP"])


def test_limit_is_read_per_task_and_counts_only_when_it_left_items_out(tmp_path):
    date = iter(f"2025-01-01T00-00-{i:02d}" for i in range(20))
    task = {TASKS[0]: (1.0, None, 32)}
    write_run(tmp_path / "full", "m", "dllm", "pretrained=m", "k=1", task, next(date))
    write_run(tmp_path / "limited", "m", "dllm", "pretrained=m", "k=2", task, next(date), limit=3)
    write_run(tmp_path / "fraction", "m", "dllm", "pretrained=m", "k=4", task, next(date), limit=0.5)
    # a limit above the task's 100 items evaluates all of them
    write_run(tmp_path / "above", "m", "dllm", "pretrained=m", "k=8", task, next(date), limit=200)
    # k=1 gets its second task from a limited run: the configuration is limited, its first task is not
    write_run(tmp_path / "rerun", "m", "dllm", "pretrained=m", "k=1", {TASKS[1]: (1.0, None, 64)}, next(date), limit=5)
    configurations = {c.label: c for c in load_configurations([tmp_path])}
    assert {label: c.limit for label, c in configurations.items()} == {"k=1": 5, "k=2": 3, "k=4": 0.5, "k=8": None}
    assert type(configurations["k=2"].limit) is int  # lm-eval writes 3.0
    assert configurations["k=1"].tasks[TASKS[0]].limit is None
    assert configurations["k=2"].tasks[TASKS[0]].n_samples == 3


def test_pb_scores_count_limited_runs_and_mark_them(tmp_path):
    date = iter(f"2025-01-01T00-00-{i:02d}" for i in range(20))
    for k, accuracy, limit in ((1, 1.0, None), (2, 0.9, None), (4, 0.85, 3)):
        write_run(tmp_path / f"k{k}", "m", "dllm", "pretrained=m", f"k={k}", {TASKS[0]: (accuracy, None, 32)},
                  next(date), limit=limit)
    summary = analysis.strategy_summary(load_configurations([tmp_path]), [TASKS[0]])
    assert summary["PB80"] == 4.0 and summary["limited"] is True
    assert [(c["config"], c["limit"]) for c in summary["configurations"]] == [("k=1", None), ("k=2", None), ("k=4", 3)]
    full = [c for c in load_configurations([tmp_path]) if c.limit is None]
    assert analysis.strategy_summary(full, [TASKS[0]])["limited"] is False
