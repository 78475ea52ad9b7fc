"""Checker factories for the worker isolation tests: they run inside the checker worker process.

The worker imports them by path (`checker_helpers:misbehaving_checker`), so the tests put this
folder on the worker's PYTHONPATH.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def misbehaving_checker(server_pid_file: str):
    """Counts `bad` in the text, unless the text asks it to abort, hang or raise.

    Like language-tool-python, it starts a server process of its own at start-up (a sleeping
    Python), whose pid it writes to `server_pid_file`: killing the worker must kill it too.
    """
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    Path(server_pid_file).write_text(str(server.pid))

    def check(text: str) -> int:
        print("noise on stdout, which must not reach the protocol")
        if "abort" in text:
            os.abort()  # as a native checker does on a failed allocation
        if "hang" in text:
            time.sleep(3600)
        if "raise" in text:
            raise ValueError(f"cannot check {text!r}")
        return text.count("bad")

    return check


def checker_that_cannot_start():
    raise RuntimeError("no Java runtime found")


def process_is_gone(pid: int, wait_s: float = 10.0) -> bool:
    """Within `wait_s`: no such process, or only its zombie (killed, not yet reaped by its new parent)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
