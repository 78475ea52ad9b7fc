"""The wheel ships the task folder (YAML, utils.py, released items) inside the package, and the .pth hook."""

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]  # the source checkout, whichever copy of the package is installed
DATA_DIR = REPO / "task_yamls" / "data"


@pytest.mark.skipif(importlib.util.find_spec("hatchling") is None, reason="hatchling is not installed, so no offline wheel build")
def test_wheel_contains_tasks_data_and_pth(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("parallelbench_lmeval-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packaged = "parallelbench_lmeval/task_yamls/"
    expected = {
        packaged + "utils.py",
        packaged + "_parallelbench_yaml",
        packaged + "groups/parallelbench.yaml",
        packaged + "waiting_line/parallelbench_copy.yaml",
        packaged + "data/sources/first_last_names.yaml",
        "parallelbench_lmeval/scoring/lists.py",
        "parallelbench_lmeval_autoload.pth",
    }
    expected |= {packaged + "data/" + str(path.relative_to(DATA_DIR)) for path in DATA_DIR.rglob("*") if path.is_file()}
    assert expected <= names
