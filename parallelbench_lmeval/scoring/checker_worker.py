"""A grammar checker in a child process, so that no output can crash or hang the run.

Harper is native code: a pathological text can abort the whole process (a 100,000-letter word
asks for 30 GB) or run for minutes, and language-tool-python waits up to 2 x 300 s for a stuck
LanguageTool server. `IsolatedChecker` runs the checker in a worker,
`python -m parallelbench_lmeval.scoring.checker_worker module:factory '[args]'`, started in a
session of its own so that a LanguageTool server it starts belongs to its process group. They
exchange one JSON object per line:

    worker -> parent   {"ready": true} or {"error": "..."}   once, after calling the factory
    parent -> worker   {"text": "..."}                       one per check
    worker -> parent   {"issues": 3}, or {"error": "..."}    the reply, or what the checker raised

A worker that dies or outruns the check timeout is killed with its process group; that check
raises `CheckFailed` and the next one starts a new worker.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence


class CheckerStartError(RuntimeError):
    """The checker could not start in the worker (its factory raised, or no ready line came)."""


class CheckFailed(RuntimeError):
    """One check failed: the checker raised, its worker died, or it outran the timeout."""


def _forward_lines(stream, lines: queue.SimpleQueue) -> None:
    """Reader thread: each line the worker writes, then None at end of file (the worker is gone)."""
    with stream:
        for line in stream:
            lines.put(line)
    lines.put(None)


def _exit_description(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exit status {returncode}"


class IsolatedChecker:
    """text -> number of issues, computed in a worker process that is restarted after a crash or a hang.

    `factory` is `module:function`; `function(*args)` runs in the worker and returns the checker.
    Construction starts the worker and raises `CheckerStartError` when the checker cannot start
    (`start_timeout` leaves room for LanguageTool's first download).
    """

    def __init__(self, factory: str, args: Sequence = (), timeout: float = 60.0, start_timeout: float = 600.0):
        self.factory = factory
        self._command = [sys.executable, "-m", __name__, factory, json.dumps(list(args))]
        self.timeout = timeout
        self._start_timeout = start_timeout
        self._lock = threading.Lock()  # one check at a time: the protocol is request-reply
        self._process: subprocess.Popen | None = None
        self._lines: queue.SimpleQueue | None = None
        self._start()
        atexit.register(self.close)

    def __call__(self, text: str) -> int:
        with self._lock:
            if self._process is None:
                self._start()
            reply = self._exchange({"text": text})
        if "error" in reply:
            raise CheckFailed(reply["error"])
        return reply["issues"]

    def close(self) -> None:
        """Kills the worker and its process group (a LanguageTool server included)."""
        if self._process is None:
            return
        try:
            os.killpg(self._process.pid, signal.SIGKILL)
        except ProcessLookupError:  # the group is gone already
            pass
        self._process.wait()
        with contextlib.suppress(OSError):  # a request left in the buffer of a broken pipe
            self._process.stdin.close()  # (its stdout is the reader thread's, closed at end of file)
        self._process = None

    def _start(self) -> None:
        self._process = subprocess.Popen(
            self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8", start_new_session=True
        )
        self._lines = queue.SimpleQueue()
        threading.Thread(target=_forward_lines, args=(self._process.stdout, self._lines), daemon=True).start()
        try:
            reply = self._receive(self._start_timeout)
        except CheckFailed as error:
            raise CheckerStartError(f"{self.factory}: {error}") from None
        if "error" in reply:
            self.close()
            raise CheckerStartError(reply["error"])

    def _exchange(self, request: dict) -> dict:
        try:
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
        except OSError:  # a broken pipe: the worker died since the last check
            pass  # its end of file is already queued; _receive reports it
        return self._receive(self.timeout)

    def _receive(self, timeout: float) -> dict:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise CheckFailed(f"no answer within {timeout:g} s: the checker process was killed") from None
        if line is None:
            returncode = self._process.wait()
            self.close()
            raise CheckFailed(f"the checker process died ({_exit_description(returncode)})")
        return json.loads(line)


def _send(channel, message: dict) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def main(argv: Sequence[str]) -> int:
    factory, args = argv[0], json.loads(argv[1])
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever the checker prints (Python or native code) goes to stderr, not into the protocol
    try:
        module, _, function = factory.partition(":")
        check = getattr(importlib.import_module(module), function)(*args)
    except Exception as error:  # reported to the parent, which names the fix
        _send(channel, {"error": f"{type(error).__name__}: {error}"})
        return 1
    _send(channel, {"ready": True})
    for line in sys.stdin:
        try:
            reply = {"issues": int(check(json.loads(line)["text"]))}
        except Exception as error:  # one failing text; the worker carries on
            reply = {"error": f"{type(error).__name__}: {error}"}
        _send(channel, reply)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
