"""The report's files: tables mixing models, the public leaderboard files byte for byte, the plots."""

import csv
import json
import logging
import sys

import pytest

from parallelbench_lmeval.report.cli import main, write_report
from parallelbench_lmeval.report.runs import LEADERBOARD_TASK_IDS, load_configurations
from report_helpers import write_run, write_synthetic_benchmark

ALL_TASKS = list(LEADERBOARD_TASK_IDS)


def test_report_lists_hf_and_dllm_models_side_by_side(tmp_path):
    tasks = {"parallelbench_copy": (1.0, None, 32), "parallelbench_shuffle": (0.5, None, 32)}
    write_run(tmp_path / "runs" / "ar", "Qwen/Qwen2.5-7B", "hf", {"pretrained": "Qwen/Qwen2.5-7B"}, None, tasks,
              "2025-01-01T00-00-00")
    write_run(tmp_path / "runs" / "sweep" / "confidence_k2", "GSAI-ML/LLaDA-1.5", "dllm",
              "pretrained=GSAI-ML/LLaDA-1.5", {"unmasking": "confidence", "k": 2},
              {"parallelbench_copy": (0.9, 2.0, 32), "parallelbench_shuffle": (0.25, 2.0, 32)}, "2025-01-01T00-00-01")
    write_report([tmp_path / "runs"], tmp_path / "report", with_plots=False)
    with open(tmp_path / "report" / "tasks.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    seen = {(row["model"], row["task"]): row for row in rows}
    for task in tasks:
        assert seen[("Qwen/Qwen2.5-7B", task)]["tokens_per_step"] == "1.0"
        assert seen[("Qwen/Qwen2.5-7B", task)]["strategy"] == "autoregressive"
        assert seen[("GSAI-ML/LLaDA-1.5", task)]["tokens_per_step"] == "2.0"
        assert seen[("GSAI-ML/LLaDA-1.5", task)]["strategy"] == "confidence-topk"
    assert seen[("GSAI-ML/LLaDA-1.5", "parallelbench_shuffle")]["accuracy"] == "25.0"
    table = (tmp_path / "report" / "tasks.md").read_text(encoding="utf-8")
    assert "| Qwen/Qwen2.5-7B | autoregressive | hf | 100.0 (1.00) |" in table
    assert "| GSAI-ML/LLaDA-1.5 | confidence-topk | k=2 | 90.0 (2.00) |" in table
    summary = json.loads((tmp_path / "report" / "summary.json").read_text(encoding="utf-8"))
    assert summary["models"]["Qwen/Qwen2.5-7B"]["strategies"]["autoregressive"]["PB70"] == 1.0
    # the public leaderboard is for dLLMs only
    assert [p.name for p in (tmp_path / "report" / "leaderboard").iterdir()] == ["GSAI-ML__LLaDA-1.5.json"]


def test_public_leaderboard_files_exact_format(tmp_path):
    date = iter(f"2025-01-01T00-00-{i:02d}" for i in range(10))
    for k, accuracy in ((1, 1.0), (2, 0.75), (4, 0.5)):
        write_run(tmp_path / "runs" / f"k{k}", "llada", "dllm", "pretrained=llada", f"unmasking=confidence,k={k}",
                  {t: (accuracy, None, 32) for t in ALL_TASKS}, next(date))
    write_run(tmp_path / "runs" / "t", "llada", "dllm", "pretrained=llada", "threshold=0.9",
              {t: (0.75, 2.5, 32) for t in ALL_TASKS}, next(date))
    write_report([tmp_path / "runs"], tmp_path / "out", aliases={"llada": "llada15"}, with_plots=False)
    leaderboard = (tmp_path / "out" / "leaderboard" / "llada15.json").read_text(encoding="utf-8")
    assert json.loads(leaderboard) == {
        "thresholds": [80, 75, 70],
        "results": {
            "confidence-threshold": {"80": 0.0, "75": 2.5, "70": 2.5},
            "confidence-topk": {"80": 1.0, "75": 2.0, "70": 2.0},
        },
    }
    lines = (tmp_path / "out" / "figures" / "llada15" / "confidence-topk.csv").read_text(encoding="utf-8").splitlines()
    ids = sorted(LEADERBOARD_TASK_IDS.values())
    expected = ["task,tps,accuracy"]
    expected += [f"{task_id},{tps},{accuracy}" for task_id in ids for tps, accuracy in ((1.0, 100.0), (2.0, 75.0), (4.0, 50.0))]
    expected += ["avg,1.0,100.0", "avg,2.0,75.0", "avg,4.0,50.0"]
    assert lines == expected
    assert ids[0] == "puzzles-latin_square" and "textwriting-w2s_easy" in ids and "waitingline-replace_random" in ids
    threshold_csv = (tmp_path / "out" / "figures" / "llada15" / "confidence-threshold.csv").read_text(encoding="utf-8")
    assert threshold_csv.splitlines()[-1] == "avg,2.5,75.0"


def test_partial_folders_are_ignored_and_the_newest_result_wins(tmp_path):
    task = {"parallelbench_copy": (0.5, None, 32)}
    write_run(tmp_path / "confidence_k2", "m", "dllm", "pretrained=m", "k=2", task, "2025-01-01T00-00-00")
    write_run(tmp_path / "rerun", "m", "dllm", "pretrained=m,k=2", None, {"parallelbench_copy": (0.75, None, 32)},
              "2025-01-02T00-00-00")
    write_run(tmp_path / ".partial-confidence_k4", "m", "dllm", "pretrained=m", "k=4", task, "2025-01-03T00-00-00")
    configurations = load_configurations([tmp_path])
    assert len(configurations) == 1
    assert configurations[0].tasks["parallelbench_copy"].accuracy == 0.75


def test_full_report_writes_readable_plots(tmp_path):
    write_synthetic_benchmark(tmp_path / "runs")
    assert main([str(tmp_path / "runs"), "--out", str(tmp_path / "report"), "--alias", "toy/dllm=toy"]) == 0
    plots = tmp_path / "report" / "plots"
    expected = ["accuracy_vs_tps_avg.png", "accuracy_vs_tps_all_tasks.png", "accuracy_vs_tps_shuffle.png",
                "accuracy_vs_block_length_toy.png", "task_characterization.png"]
    for name in expected:
        data = (plots / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000, name
    assert len(list(plots.glob("accuracy_vs_tps_*.png"))) == 17 + 2
    summary = json.loads((tmp_path / "report" / "summary.json").read_text(encoding="utf-8"))
    toy = summary["models"]["toy"]
    assert toy["complete"] and set(toy["strategies"]) == {
        "random", "confidence-topk", "topk-margin", "l2r", "confidence-threshold"}
    assert toy["oracle"]["confidence-threshold"]["tokens_per_step"] > 0
    assert len(summary["task_characterization"]) == 17
    assert sorted(p.name for p in (tmp_path / "report" / "figures" / "toy").iterdir()) == [
        "confidence-threshold.csv", "confidence-topk.csv", "l2r.csv", "random.csv", "topk-margin.csv"]


def test_bad_alias_and_empty_folder_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="MODEL=NAME"):
        main([str(tmp_path), "--out", str(tmp_path / "out"), "--alias", "nonsense"])
    with pytest.raises(ValueError, match="no lm-eval results"):
        main([str(tmp_path), "--out", str(tmp_path / "out")])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        main([str(tmp_path / "missing"), "--out", str(tmp_path / "out")])


def test_limited_runs_stay_out_of_the_public_leaderboard_files(tmp_path, caplog):
    date = iter(f"2025-01-01T00-00-{i:02d}" for i in range(10))
    for k, accuracy, limit in ((1, 1.0, None), (2, 0.9, None), (4, 0.85, 3)):
        write_run(tmp_path / "runs" / f"k{k}", "llada", "dllm", "pretrained=llada", f"unmasking=confidence,k={k}",
                  {t: (accuracy, None, 32) for t in ALL_TASKS}, next(date), limit=limit)
    # a model whose only run is limited gets no public files
    write_run(tmp_path / "runs" / "smoke", "smoke", "dllm", "pretrained=smoke", "k=2",
              {t: (1.0, None, 32) for t in ALL_TASKS}, next(date), limit=0.5)
    with caplog.at_level(logging.WARNING):
        summary = write_report([tmp_path / "runs"], tmp_path / "out", with_plots=False)
    out = tmp_path / "out"
    assert "llada confidence-topk k=4 (--limit 3)" in caplog.text
    assert "smoke confidence-topk k=2 (--limit 0.5)" in caplog.text

    # the summary keeps the limited run, marked, and counts it in PBx
    topk = summary["models"]["llada"]["strategies"]["confidence-topk"]
    assert (topk["PB80"], topk["limited"]) == (4.0, True)
    assert [c["limit"] for c in topk["configurations"]] == [None, None, 3]
    # the public files leave it out: PBx without it, no rows for it
    assert json.loads((out / "leaderboard" / "llada.json").read_text(encoding="utf-8")) == {
        "thresholds": [80, 75, 70], "results": {"confidence-topk": {"80": 2.0, "75": 2.0, "70": 2.0}}}
    rows = (out / "figures" / "llada" / "confidence-topk.csv").read_text(encoding="utf-8").splitlines()
    assert {row.split(",")[1] for row in rows[1:]} == {"1.0", "2.0"}
    assert rows[-2:] == ["avg,1.0,100.0", "avg,2.0,90.0"]
    assert [p.name for p in (out / "leaderboard").iterdir()] == ["llada.json"]
    assert not (out / "figures" / "smoke").exists()

    markdown = (out / "leaderboard.md").read_text(encoding="utf-8")
    # AUP: per task, 90 and 85 % are more than 5 points below the first point (100 % at 1 token per step)
    assert "| llada | confidence-topk | 4.00 | 4.00 | 4.00 | 100.0 | 3 (1 limited) | 100.0 |" in markdown
    assert ("- llada confidence-topk: PBx counts runs made with --limit, on part of each task: k=4 (--limit 3);"
            in markdown)
    assert "| smoke | confidence-topk | 2.00 | 2.00 | 2.00 | 200.0 | 1 (1 limited) | 100.0 |" in markdown  # AUP: 2 x 100
    with open(out / "tasks.csv", encoding="utf-8") as handle:
        limits = {(row["model"], row["config"], row["limit"]) for row in csv.DictReader(handle)}
    assert limits == {("llada", "k=1", ""), ("llada", "k=2", ""), ("llada", "k=4", "3"), ("smoke", "k=2", "0.5")}
    table = (out / "tasks.md").read_text(encoding="utf-8")
    assert "| llada | confidence-topk | k=4 (--limit 3) | 17 | 85.0 (4.00) |" in table
    assert "| llada | confidence-topk | k=2 | 17 | 90.0 (2.00) |" in table


@pytest.mark.slow
def test_a_real_lm_eval_run_with_limit_is_kept_out_of_the_public_files(tmp_path, monkeypatch):
    from lm_eval.__main__ import HarnessCLI

    monkeypatch.setattr(sys, "argv", [
        "lm_eval", "--model", "dllm", "--model_args", "pretrained=ideal,k=2", "--tasks", "parallelbench_copy",
        "--limit", "3", "--output_path", str(tmp_path / "runs"), "--log_samples"])
    cli = HarnessCLI()
    cli.execute(cli.parse_args())
    (configuration,) = load_configurations([tmp_path / "runs"])
    assert configuration.limit == 3 and configuration.tasks["parallelbench_copy"].n_samples == 3
    summary = write_report([tmp_path / "runs"], tmp_path / "out", with_plots=False)
    assert summary["models"]["ideal"]["strategies"]["confidence-topk"]["configurations"][0]["limit"] == 3
    assert not (tmp_path / "out" / "leaderboard").exists() and not (tmp_path / "out" / "figures").exists()


def test_decoding_order_table_lists_the_configurations_that_logged_it(tmp_path):
    date = iter(f"2025-01-01T00-00-{i:02d}" for i in range(10))
    order = {"parallelbench_copy": {"dec_order_kendall": 1.0, "dec_order_spearman": 1.0},
             "parallelbench_sudoku": {"dec_order_kendall": 0.25}}
    write_run(tmp_path / "runs" / "l2r", "m", "dllm", "pretrained=m", "unmasking=left_to_right,k=2",
              {"parallelbench_copy": (1.0, 2.0, 32), "parallelbench_sudoku": (0.5, 2.0, 64)}, next(date), metrics=order)
    write_run(tmp_path / "runs" / "ar", "qwen", "hf", "pretrained=qwen", "",
              {"parallelbench_copy": (1.0, None, 32)}, next(date))
    write_report([tmp_path / "runs"], tmp_path / "out", with_plots=False)
    tables = (tmp_path / "out" / "tasks.md").read_text(encoding="utf-8")
    section = tables[tables.index("### Decoding order"):]
    assert "| model | strategy | config | copy | sudoku | mean |" in section
    assert "| m | l2r | k=2 | 1.00 | 0.25 | 0.62 |" in section
    assert "qwen" not in section  # an autoregressive run logs no order
    header, *rows = (tmp_path / "out" / "tasks.csv").read_text(encoding="utf-8").splitlines()
    assert {"dec_order_kendall", "dec_order_spearman"} <= set(header.split(","))


def test_report_ends_with_a_summary_table_on_the_terminal(tmp_path, capsys):
    from parallelbench_lmeval.report import console

    write_synthetic_benchmark(tmp_path / "runs")
    assert main([str(tmp_path / "runs"), "--out", str(tmp_path / "report"), "--no_plots"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("PB80/75/70: ") and lines[-1] == f"report written to {tmp_path / 'report'}"
    assert lines[1].split() == ["model", "strategy", "configs", "PB80", "PB75", "PB70", "AUP", "best", "acc", "%",
                                "tok/step", "at", "best", "max", "tok/step"]
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in lines[3:-1]}
    summary = json.loads((tmp_path / "report" / "summary.json").read_text(encoding="utf-8"))
    threshold = summary["models"]["toy/dllm"]["strategies"]["confidence-threshold"]
    assert rows[("toy/dllm", "confidence-threshold")][:4] == ["3", *(f"{threshold[f'PB{x}']:.2f}" for x in (80, 75, 70))]
    assert rows[("toy/ar", "autoregressive")][-2:] == ["1.00", "1.00"]
    assert len(rows) == sum(len(entry["strategies"]) for entry in summary["models"].values())
    # the table shows whatever the rows hold: a column is one more key
    extra = [{**row, "extra column": 1.5} for row in console.strategy_rows(summary)]
    assert console.format_table(extra).splitlines()[0].split()[-2:] == ["extra", "column"]


def test_tables_order_options_numerically_and_round_what_is_read(tmp_path):
    for i, threshold in enumerate((0.9, 1.0, 0.8, 0.7, 0.5)):
        write_run(tmp_path / "runs" / f"t{threshold}", "m", "dllm", "pretrained=m", f"threshold={threshold}",
                  {"parallelbench_copy": (1 / 3, 16 / 9, 32)}, f"2025-01-01T00-00-0{i}")
    summary = write_report([tmp_path / "runs"], tmp_path / "report", with_plots=False)
    table = (tmp_path / "report" / "tasks.md").read_text(encoding="utf-8")
    rows = [line.split(" | ")[2] for line in table.splitlines() if line.startswith("| m | confidence-threshold")]
    assert rows[:5] == ["threshold=0.5", "threshold=0.7", "threshold=0.8", "threshold=0.9", "threshold=1"]
    listed = summary["models"]["m"]["strategies"]["confidence-threshold"]["configurations"]
    assert [c["config"] for c in listed] == rows[:5]  # equal tokens per step: by threshold
    with open(tmp_path / "report" / "tasks.csv", encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    assert (row["config"], row["accuracy"], row["tokens_per_step"]) == ("threshold=0.5", "33.3333", "1.77778")
    saved = json.loads((tmp_path / "report" / "summary.json").read_text(encoding="utf-8"))
    assert saved["models"]["m"]["strategies"]["confidence-threshold"]["configurations"][0]["tokens_per_step"] == 16 / 9
