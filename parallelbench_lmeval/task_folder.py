"""Where the YAML tasks and the released items are.

A leaf module (it imports nothing of ours): the lm-eval registration and the ideal model's
prompt reader both need the task folder, and neither may import the other (the registration
loads the `dllm` model, which loads the ideal model).
"""

from __future__ import annotations

from pathlib import Path


def task_dir() -> Path:
    """The YAML task folder: inside the installed package, or at the top of a source checkout."""
    packaged = Path(__file__).parent / "task_yamls"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "task_yamls"


def data_dir() -> Path:
    """The released benchmark items and task configs (`<task folder>/data`)."""
    return task_dir() / "data"
