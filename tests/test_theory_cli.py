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
