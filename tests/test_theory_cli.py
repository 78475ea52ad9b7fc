"""`parallelbench theory` prints Table 1 and Fig. 2 and writes the figures."""

import pytest

from parallelbench_lmeval.theory.cli import main


def test_theory_report_prints_tables_and_writes_plots(tmp_path, capsys):
    assert main(["--max-n", "4", "--trials", "50", "--table-n", "4", "--threshold-n", "4", "--plot", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Table 1 at n = 4" in out and "Fig. 2e" in out
    assert "Replace Random" in out and "|brute force - closed|" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure2_accuracy.png", "total_correlation.png"]
    assert all(p.stat().st_size > 10_000 for p in tmp_path.iterdir())


def test_theory_rejects_a_too_short_list(capsys):
    with pytest.raises(SystemExit):
        main(["--max-n", "2"])
    assert "--max-n must be at least 3, got 2" in capsys.readouterr().err


def test_figure_2_legends_lie_below_every_panel():
    """Panel (d)'s legend once covered a point: the legends are the figure's, under the panels."""
    from parallelbench_lmeval.theory.cli import FIGURE_TASKS, K_CHOICES, PANELS, figure2

    rows = [(n, 1 / n, 0.01, 1 / n) for n in range(2, 8)]
    curves = {(task, temperature, k): rows for task, temperature, _ in PANELS for k in K_CHOICES}
    thresholds = {task: [(g / 10, g / 10, 0.01, g / 10) for g in range(1, 10)] for task in FIGURE_TASKS}
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = figure2(curves, thresholds, 10)
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    assert all(axis.get_legend() is None for axis in figure.axes)
    assert len(figure.legends) == 2
    lowest_panel = min(axis.get_tightbbox(renderer).y0 for axis in figure.axes)
    assert all(legend.get_window_extent(renderer).y1 <= lowest_panel for legend in figure.legends)
    assert all(legend.get_window_extent(renderer).y0 >= 0 for legend in figure.legends)
