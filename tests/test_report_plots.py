"""The report's figures, checked on the matplotlib objects before they are saved: tick positions and
labels, legend labels, what is drawn above what."""

import pytest

from parallelbench_lmeval.report import plots
from parallelbench_lmeval.report.leaderboard import build_summary
from parallelbench_lmeval.report.runs import LEADERBOARD_TASK_IDS, load_configurations
from report_helpers import write_run

TASK = "parallelbench_copy"


def _dates():
    return iter(f"2025-01-01T00-00-{i:02d}" for i in range(60))


def _tick_labels(fig, ax) -> list[str]:
    fig.draw_without_rendering()
    return [label.get_text() for label in ax.get_xticklabels()]


def test_tick_labels_are_compact():
    values = (1.0, 16.0, 1.7934, 3.25, 0.5, 2.5)
    assert [plots.tick_label(v) for v in values] == ["1", "16", "1.79", "3.25", "0.5", "2.5"]


def test_ticks_at_the_powers_of_two_and_at_few_measured_values():
    assert plots.log2_ticks([1.0, 1.79, 3.25, 5.5]) == [1.0, 1.79, 2.0, 3.25, 4.0, 5.5]
    # values that print alike are one tick; a value that prints as a power of two is that power
    assert plots.log2_ticks([1.0, 1.7901, 1.7899, 2.001, 4.0]) == [1.0, 1.79, 2.0, 4.0]
    # only powers of two in view: 8 is beyond the last point
    assert plots.log2_ticks([1.0, 2.0, 4.0, 5.0]) == [1.0, 2.0, 4.0, 5.0]
    assert max(plots.log2_ticks([1.0, 4.5])) == 4.5
    assert plots.log2_ticks([]) == []


def test_many_measured_values_leave_the_powers_of_two_alone():
    values = [1.0, 1.1, 1.3, 1.5, 2.5, 3.0, 3.5, 6.0]  # seven that are not powers of two
    assert plots.log2_ticks(values) == [1.0, 2.0, 4.0]
    # with no power of two in view, the ends of the range are labelled
    assert plots.log2_ticks([1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7]) == [1.1, 1.7]


def test_measured_ticks_that_would_touch_another_label_are_dropped():
    # 1.79 sits 0.16 log2 units from 2: room for both labels on a wide axis, not on a narrow one
    assert 1.79 in plots.log2_ticks([1.0, 1.79, 3.25, 5.5], digit_width=0.015)
    narrow = plots.log2_ticks([1.0, 1.79, 3.25, 5.5], digit_width=0.03)
    assert 1.79 not in narrow and 3.25 in narrow
    # of two close measured values the first is kept
    assert plots.log2_ticks([1.0, 1.3, 1.35, 2.0]) == [1.0, 1.3, 2.0]


def test_task_figure_labels_measured_tokens_per_step_and_names_the_model(tmp_path):
    dates = _dates()
    for k, tps in ((1, 1.0), (2, 1.79), (4, 3.25), (8, 5.5)):
        write_run(tmp_path / f"k{k}", "m", "dllm", "pretrained=m", f"unmasking=confidence,k={k}",
                  {TASK: (1 / k, tps, 32)}, next(dates))
    fig = plots.task_figure(load_configurations([tmp_path]), TASK)
    ax = fig.axes[0]
    assert _tick_labels(fig, ax) == ["1", "1.79", "2", "3.25", "4", "5.5"]
    assert [tick.get_text() for tick in ax.get_xticklabels(minor=True)] == []
    # one model: the legend still names it
    assert ax.get_legend_handles_labels()[1] == ["m · confidence-topk"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["m · confidence-topk"]


def test_grid_spaces_its_ticks_for_its_smaller_axes(tmp_path):
    dates = _dates()
    for k, tps in ((1, 1.0), (2, 1.79), (4, 3.25), (8, 5.5)):
        write_run(tmp_path / f"k{k}", "m", "dllm", "pretrained=m", f"unmasking=confidence,k={k}",
                  {TASK: (1 / k, tps, 32), "parallelbench_sort": (1.0, tps, 32)}, next(dates))
    configurations = load_configurations([tmp_path])
    single = plots.task_figure(configurations, TASK)
    grid = plots.all_tasks_figure(configurations)
    assert [ax.get_title() for ax in grid.axes if ax.get_visible()] == ["copy", "sort"]
    # a 3.6-inch panel with 8-point labels has no room for 1.79 beside 2, a 6.4-inch plot has
    assert "1.79" in _tick_labels(single, single.axes[0])
    assert _tick_labels(grid, grid.axes[0]) == ["1", "2", "3.25", "4", "5.5"]
    assert [t.get_text() for t in grid.legends[0].get_texts()] == ["m · confidence-topk"]


def _oracle_and_autoregressive_at_one_and_zero(root):
    """A threshold sweep failing every item at one token per step (its oracle at (1, 0)) and an `hf` model
    scoring 0 (its marker at (1, 0) too)."""
    dates = _dates()
    for threshold in (0.9, 0.5):
        write_run(root / f"t{threshold}", "m", "dllm", "pretrained=m", f"threshold={threshold}",
                  {TASK: (0.0, 1.0, 32)}, next(dates), items={TASK: [(0, 0.0, 1.0), (1, 0.0, 1.0)]})
    write_run(root / "ar", "ar", "hf", "pretrained=ar", None, {TASK: (0.0, None, 32)}, next(dates))
    return load_configurations([root])


def test_autoregressive_marker_stays_visible_on_an_oracle_star(tmp_path):
    configurations = _oracle_and_autoregressive_at_one_and_zero(tmp_path)
    fig = plots.average_figure(configurations, build_summary(configurations))
    ax = fig.axes[0]
    drawn = {collection.get_label(): collection for collection in ax.collections}
    assert ax.get_title() == "Mean accuracy over 1 task"  # one task set: counted in the title, not in the legend
    star = drawn["m · confidence-threshold oracle"]
    marker = drawn["ar · autoregressive"]
    assert star.get_offsets().tolist() == marker.get_offsets().tolist() == [[1.0, 0.0]]
    assert marker.get_zorder() > star.get_zorder() > max(line.get_zorder() for line in ax.lines)
    # the star is hollow: what lies under it shows through
    assert all(alpha == 0 for *_, alpha in star.get_facecolor())
    assert star.get_edgecolor()[0][3] == 1
    assert marker.get_facecolor()[0][3] == 1


def _model_runs(root, model, tasks, dates, limit=None):
    for k, accuracy in ((1, 1.0), (2, 0.5)):
        write_run(root / f"{model}_k{k}", model, "dllm", f"pretrained={model}", f"unmasking=random,k={k}",
                  {t: (accuracy, float(k), 32) for t in tasks}, next(dates), limit=limit)


def test_average_plot_says_over_how_many_tasks_each_curve_averages(tmp_path):
    dates = _dates()
    _model_runs(tmp_path, "full", list(LEADERBOARD_TASK_IDS), dates)
    _model_runs(tmp_path, "one", [TASK], dates, limit=3)
    configurations = load_configurations([tmp_path])
    summary = build_summary(configurations)
    fig = plots.average_figure(configurations, summary)
    ax = fig.axes[0]
    assert ax.get_legend_handles_labels()[1] == [  # the two curves coincide: drawn apart, and said so
        "full · random (17 tasks)", "one · random (1 task, --limit 3)", plots.OVERLAP_NOTE]
    assert ax.get_title() == "Mean accuracy over each model's tasks (task counts in the legend)"
    # the counts are the summary's
    assert [len(summary["models"][m]["tasks"]) for m in ("full", "one")] == [17, 1]

    full_only = [c for c in configurations if c.model == "full"]
    fig = plots.average_figure(full_only, build_summary(full_only))
    assert fig.axes[0].get_title() == "Mean accuracy over the 17 tasks"


@pytest.mark.parametrize("task_sets, title", [
    ([[TASK, "parallelbench_sort"]] * 2, "Mean accuracy over 2 tasks"),
    ([[TASK]], "Mean accuracy over 1 task"),
    ([[TASK], ["parallelbench_sort"]], "Mean accuracy over each model's tasks (task counts in the legend)"),
])
def test_average_title(task_sets, title):
    assert plots.average_title(task_sets) == title



# one configuration pair per strategy id of the ideal sweep's report (17 strategies)
STRATEGY_OPTIONS = {
    "random": "unmasking=random,k={k}", "l2r": "unmasking=left_to_right,k={k}",
    "confidence-topk": "unmasking=confidence,k={k}", "entropy-topk": "unmasking=entropy,k={k}",
    "topk-margin": "unmasking=margin,k={k}", "confidence-threshold": "threshold=0.{k}",
    "confidence-factor": "factor={k}", "wino": "sampler=wino,wino_threshold=0.{k}",
    "wino-plain": "sampler=wino,wino_canvas=plain,wino_threshold=0.{k}",
    "slowfast": "sampler=slowfast,sf_high_confidence_threshold=0.{k}",
    "klass": "sampler=klass,klass_conf_threshold=0.{k}", "dus": "sampler=dus,dus_remasking_threshold=0.{k}",
    "confidence-eb": "sampler=eb,eb_gamma={k}", "confidence-pc-sampler": "sampler=pc,k={k}",
    "random-pc-sampler": "sampler=pc,unmasking=random,k={k}", "rcr": "sampler=rcr,k={k}",
    "remdm": "sampler=remdm,k={k}",
}


def _every_strategy(root, same_points: bool):
    """Two configurations per strategy; with `same_points` every strategy's curve is the same one."""
    dates = _dates()
    for index, (strategy, options) in enumerate(STRATEGY_OPTIONS.items()):
        for k in (2, 4):
            tps = k / (8 if strategy == "slowfast" and not same_points else 1)  # SlowFast below one token per step
            accuracy = 1 / k if same_points else (index + k) / 40
            write_run(root / f"{strategy}_{k}", "ideal", "dllm", "pretrained=ideal", options.format(k=k),
                      {TASK: (accuracy, tps, 32)}, next(dates))
    configurations = load_configurations([root])
    assert {c.strategy for c in configurations} == set(STRATEGY_OPTIONS)
    return configurations


def _curves_of(ax):
    notes = (plots.OVERLAP_NOTE, plots.BELOW_ONE_NOTE)
    return [line for line in ax.lines if not line.get_label().startswith("_") and line.get_label() not in notes]


def test_no_colour_or_marker_repeats_within_a_figure(tmp_path):
    configurations = _every_strategy(tmp_path, same_points=False)
    fig = plots.average_figure(configurations, build_summary(configurations))
    curves = _curves_of(fig.axes[0])
    assert len(curves) == len(STRATEGY_OPTIONS)
    colours = [line.get_color() for line in curves]
    assert len(set(colours)) == len(colours)
    assert len({(line.get_color(), line.get_marker()) for line in curves}) == len(curves)
    # the paper's strategies keep their colours; the pairs stay unique far beyond one colour each
    assert plots.strategy_styles(["random", "wino"])["random"][0] == plots.STRATEGY_COLORS["random"]
    many = plots.strategy_styles(f"s{i}" for i in range(200))
    assert len(set(many.values())) == len(many)


def test_identical_curves_are_drawn_side_by_side_with_a_note(tmp_path):
    configurations = _every_strategy(tmp_path, same_points=True)
    fig = plots.task_figure(configurations, TASK)
    ax = fig.axes[0]
    curves = _curves_of(ax)
    fig.draw_without_rendering()
    heights = sorted(line.get_transform().transform((2.0, 50.0))[1] for line in curves)
    step = plots.OVERLAP_OFFSET_PT * fig.dpi / 72
    assert [round(b - a, 6) for a, b in zip(heights, heights[1:])] == [round(step, 6)] * (len(curves) - 1)
    assert plots.OVERLAP_NOTE == "coinciding curves drawn 1.5 pt apart"
    # within half a percentage point and 1% of tokens per step counts as coinciding
    assert plots.overlap_offsets([[(2.0, 50.0)], [(2.01, 50.4)], [(2.0, 51.0)]]) == [-0.75, 0.75, 0.0]
    assert plots.OVERLAP_NOTE in ax.get_legend_handles_labels()[1]


def test_points_below_one_token_per_step_are_marked(tmp_path):
    configurations = _every_strategy(tmp_path, same_points=False)
    ax = plots.task_figure(configurations, TASK).axes[0]
    (line,) = [line for line in ax.lines if line.get_label() == plots.BELOW_ONE_NOTE]
    assert list(line.get_xdata()) == [1.0, 1.0] and line.get_linestyle() == ":"
    assert plots.BELOW_ONE_NOTE in [text.get_text() for text in ax.get_legend().get_texts()]
    no_slowfast = [c for c in configurations if c.strategy != "slowfast"]
    assert plots.BELOW_ONE_NOTE not in plots.task_figure(no_slowfast, TASK).axes[0].get_legend_handles_labels()[1]


def test_block_length_lines_at_the_same_accuracy_stay_visible(tmp_path):
    dates = _dates()
    tasks = [TASK, "parallelbench_sort", "parallelbench_reverse"]
    for block in (4, 8, 32):
        write_run(tmp_path / f"b{block}", "m", "dllm", "pretrained=m", f"unmasking=random,k=2,block_length={block}",
                  {task: (1.0, 2.0, 32) for task in tasks}, next(dates))
    fig = plots.block_length_figure("m", load_configurations([tmp_path]))
    ax = fig.axes[0]
    fig.draw_without_rendering()
    heights = {line.get_label(): line.get_transform().transform((8.0, 100.0))[1] for line in _curves_of(ax)}
    assert sorted(heights) == ["copy", "reverse", "sort"] and len(set(heights.values())) == 3
    assert len({line.get_color() for line in _curves_of(ax)}) == 3
