"""No model output can crash, hang or flood the scoring: the Text Writing length bound, the
checker worker (aborting, hanging and raising checkers), LanguageTool behind a mocked server,
and 1 MB adversarial outputs through every Waiting Line and Puzzle task."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from checker_helpers import process_is_gone
from parallelbench_lmeval.scoring import grammar, text
from parallelbench_lmeval.scoring.checker_worker import CheckerStartError, CheckFailed, IsolatedChecker
from tasks_helpers import DECODE_STATS, PUZZLE, TEXT_WRITING, W2S_LENGTHS, WAITING_LINE, loaded_tasks, task_manager

TESTS_DIR = Path(__file__).resolve().parent
# The inputs of the issue: a native abort of Harper (the first two) and a run of more than 300 s (the third).
ISSUE_INPUTS = {"a x 100,000": "a" * 100_000, "a x 1,000,000": "a" * 1_000_000, "[ x 1,000,000": "[" * 1_000_000}
HANG_BOUND_S = 60  # generous: hang detection only
TEXT_WRITING_TASKS = tuple(f"parallelbench_{name}" for name in TEXT_WRITING + W2S_LENGTHS)
LIST_AND_PUZZLE_TASKS = tuple(f"parallelbench_{name}" for name in WAITING_LINE + PUZZLE)
MEGABYTE = 1_000_000
CLEAN_SENTENCE = "I love to throw the ball for my dog at the park."


@pytest.fixture(scope="module")
def tasks():
    return loaded_tasks()


def timed(function, *args):
    start = time.monotonic()
    result = function(*args)
    return result, time.monotonic() - start


def scored_in_time(task, outputs: dict[str, str]):
    """(label, scores) of each output on the task's first item, each scored within the hang bound."""
    doc = task.test_docs()[0]
    for label, output in outputs.items():
        scores, seconds = timed(task.process_results, doc, [output])
        assert seconds < HANG_BOUND_S, (label, seconds)
        yield label, scores


def assert_scores_in_unit_interval(scores: dict) -> None:
    for metric, value in scores.items():
        assert isinstance(value, float) and not math.isnan(value) and 0.0 <= value <= 1.0, (metric, value)


# --- the length bound -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TEXT_WRITING_TASKS)
def test_issue_inputs_score_zero_on_every_text_writing_task_with_harper(tasks, name):
    task = tasks[name]
    for label, scores in scored_in_time(task, ISSUE_INPUTS):
        assert set(scores) == set(task.aggregation()) - DECODE_STATS
        assert set(scores.values()) == {0.0}, (label, scores)
    assert task.process_results(task.test_docs()[0], [CLEAN_SENTENCE])["grammar"] == 1.0  # the run goes on, scoring normally


def test_the_bound_is_2000_characters():
    assert text.MAX_SCORED_CHARS == 2_000
    padded = ((CLEAN_SENTENCE + " ") * 100)[: text.MAX_SCORED_CHARS]
    assert not text.beyond_scoring_bound(padded)
    assert text.beyond_scoring_bound(padded + "x")


def test_inclusion_is_scored_up_to_the_bound_and_not_beyond(tasks):
    task = tasks["parallelbench_w2s_easy"]
    doc = task.test_docs()[0]
    at_bound = doc["answer"] + "x" * (text.MAX_SCORED_CHARS - len(doc["answer"]))
    assert task.process_results(doc, ["\n  " + at_bound + "  \n"])["inclusion"] == 1.0  # surrounding blanks do not count
    assert task.process_results(doc, [at_bound + "x"])["inclusion"] == 0.0


def test_outputs_beyond_the_bound_are_logged_at_the_first_tenth_and_hundredth(monkeypatch, caplog):
    monkeypatch.setattr(text, "over_bound_log", type(text.over_bound_log)())
    for _ in range(120):
        assert text.beyond_scoring_bound("a" * 5_000)
    reports = [record.getMessage() for record in caplog.records if "over the 2000-character scoring bound" in record.getMessage()]
    assert len(reports) == 3
    assert "(100 such output(s) so far; next report at 1000)" in reports[-1]


# --- the checker worker -----------------------------------------------------------------------------


@pytest.fixture
def worker_sees_tests(monkeypatch):
    """The worker imports checker factories by path: let it find `checker_helpers`."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])))


@pytest.fixture
def misbehaving(worker_sees_tests, tmp_path):
    pid_file = tmp_path / "server.pid"
    checker = IsolatedChecker("checker_helpers:misbehaving_checker", [str(pid_file)], timeout=3)
    yield checker, pid_file
    checker.close()


def test_worker_survives_an_aborting_checker(misbehaving):
    checker, pid_file = misbehaving
    assert checker("bad, bad") == 2
    server = int(pid_file.read_text())
    with pytest.raises(CheckFailed, match="the checker process died .killed by SIGABRT."):
        checker("please abort")
    assert process_is_gone(server)  # the worker's own server went with its process group
    assert checker("fine") == 0 and checker("bad") == 1  # a new worker took over
    assert int(pid_file.read_text()) != server


def test_worker_is_killed_when_a_check_hangs(misbehaving):
    checker, pid_file = misbehaving
    assert checker("fine") == 0
    server = int(pid_file.read_text())
    start = time.monotonic()
    with pytest.raises(CheckFailed, match="no answer within 3 s"):
        checker("please hang")
    assert time.monotonic() - start < HANG_BOUND_S
    assert process_is_gone(server)
    assert checker("bad") == 1


def test_a_checker_that_raises_fails_one_check_and_keeps_its_worker(misbehaving):
    checker, pid_file = misbehaving
    server = int(pid_file.read_text())
    with pytest.raises(CheckFailed, match="ValueError: cannot check 'please raise'"):
        checker("please raise")
    assert checker("bad") == 1 and int(pid_file.read_text()) == server


def test_a_checker_that_cannot_start_says_why(worker_sees_tests):
    with pytest.raises(CheckerStartError, match="RuntimeError: no Java runtime found"):
        IsolatedChecker("checker_helpers:checker_that_cannot_start")


def test_real_harper_abort_is_contained():
    """Past the bound (a direct call), Harper aborts its process on a 100,000-letter word (in about 5 s)."""
    checker = IsolatedChecker("parallelbench_lmeval.scoring.grammar:harper_checker", timeout=HANG_BOUND_S)
    try:
        with pytest.raises(CheckFailed, match="SIGABRT"):
            checker("a" * 100_000)
        assert checker(CLEAN_SENTENCE) == 0
    finally:
        checker.close()


def test_real_harper_hang_is_cut_at_the_timeout():
    """Past the bound (a direct call), Harper spins for minutes on 1 MB of brackets (paired, after a
    letter: `grammar.sentence_issues` answers 1 MB of `[` alone without asking Harper)."""
    checker = IsolatedChecker("parallelbench_lmeval.scoring.grammar:harper_checker", timeout=5)
    try:
        start = time.monotonic()
        with pytest.raises(CheckFailed, match="no answer within 5 s"):
            checker("a" + "[]" * (MEGABYTE // 2))
        assert time.monotonic() - start < HANG_BOUND_S
        assert checker(CLEAN_SENTENCE) == 0
    finally:
        checker.close()


def test_grammar_score_is_zero_with_a_warning_when_the_checker_dies(caplog):
    assert grammar.grammar_score("a" * 100_000, "harper") == 0.0
    assert "harper grammar check failed on one output (scored 0): the checker process died (killed by SIGABRT)" in caplog.text
    assert grammar.grammar_score(CLEAN_SENTENCE, "harper") == 1.0


def test_check_timeout_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(grammar.TIMEOUT_ENV, raising=False)
    assert grammar.check_timeout() == 60.0
    monkeypatch.setenv(grammar.TIMEOUT_ENV, "2.5")
    assert grammar.check_timeout() == 2.5
    for bad in ("0", "-1", "soon", "inf"):
        monkeypatch.setenv(grammar.TIMEOUT_ENV, bad)
        with pytest.raises(ValueError, match=f"PARALLELBENCH_GRAMMAR_TIMEOUT must be a positive number of seconds, got '{bad}'"):
            grammar.check_timeout()


# --- LanguageTool behind a mocked server ------------------------------------------------------------


def spelling_match(text: str, at: int) -> dict:
    """A match as LanguageTool's /v2/check returns it (the fields language-tool-python reads)."""
    return {
        "message": "Possible spelling mistake found.", "replacements": [{"value": "the"}],
        "offset": at, "length": 3, "context": {"text": text, "offset": at, "length": 3},
        "rule": {"id": "MORFOLOGIK_RULE_EN_US", "issueType": "misspelling", "category": {"id": "TYPOS"}},
    }


class FakeLanguageTool(ThreadingHTTPServer):
    """What language-tool-python's remote client queries: GET /v2/languages at start, POST /v2/check.

    `teh` is reported as a misspelling; a text with `hang` gets no answer until the server closes;
    one with `fail` gets HTTP 500.
    """

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _FakeLanguageToolHandler)
        self.url = f"http://127.0.0.1:{self.server_port}"
        self.language_requests = 0
        self.checked: list[str] = []
        self.closing = threading.Event()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self):
        self.closing.set()
        self.shutdown()
        self.server_close()


class _FakeLanguageToolHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status: int, body: bytes, content_type: str = "application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if not self.path.startswith("/v2/languages"):
            return self.reply(404, b"not found", "text/plain")
        self.server.language_requests += 1
        self.reply(200, json.dumps([{"name": "English (US)", "code": "en", "longCode": "en-US"}]).encode())

    def do_POST(self):
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        checked = form["text"][0]
        self.server.checked.append(checked)
        if "hang" in checked:
            self.server.closing.wait()
            return
        if "fail" in checked:
            return self.reply(500, b"Internal error: out of memory", "text/plain")
        matches = [spelling_match(checked, checked.index("teh"))] if "teh" in checked else []
        self.reply(200, json.dumps({"matches": matches, "language": {"code": "en-US"}}).encode())


@pytest.fixture
def languagetool_server():
    server = FakeLanguageTool()
    yield server
    server.close()


def test_languagetool_hangs_and_errors_score_zero_and_the_run_goes_on(languagetool_server, monkeypatch, caplog):
    url = languagetool_server.url
    monkeypatch.setenv(grammar.TIMEOUT_ENV, "3")  # read when the checker starts (a new URL: a new checker)
    assert grammar.grammar_score("I saw the dog.", "languagetool", url) == 1.0
    assert grammar.grammar_score("I saw teh dog.", "languagetool", url) == 0.0
    score, seconds = timed(grammar.grammar_score, "please hang here", "languagetool", url)
    assert score == 0.0 and seconds < HANG_BOUND_S
    assert "no answer within 3 s" in caplog.text
    assert grammar.grammar_score("I saw the dog.", "languagetool", url) == 1.0
    assert languagetool_server.language_requests == 2  # a new worker connected after the hang
    assert grammar.grammar_score("this will fail", "languagetool", url) == 0.0
    assert "Internal error: out of memory" in caplog.text
    assert grammar.grammar_score("I saw the dog.", "languagetool", url) == 1.0
    assert languagetool_server.language_requests == 2  # an error reply keeps the worker


def test_issue_inputs_never_reach_languagetool(languagetool_server, monkeypatch):
    monkeypatch.setenv(grammar.GRAMMAR_ENV, "languagetool")
    monkeypatch.setenv(grammar.LANGUAGETOOL_URL_ENV, languagetool_server.url)
    names = [f"parallelbench_{name}" for name in TEXT_WRITING]
    built = task_manager().load(names)["tasks"]
    for name in names:
        task = built[name]
        assert task.config.dataset_kwargs["scored_with"]["languagetool_url"] == languagetool_server.url
        for label, scores in scored_in_time(task, ISSUE_INPUTS):
            assert set(scores.values()) == {0.0}, (name, label, scores)
        assert task.process_results(task.test_docs()[0], ["I saw the dog."])["grammar"] == 1.0
    assert languagetool_server.checked == ["I saw the dog."] * len(names)


# --- Waiting Line and Puzzles -----------------------------------------------------------------------

ADVERSARIAL_MEGABYTES = {
    "[": "[" * MEGABYTE,
    "]": "]" * MEGABYTE,
    "double quotes": '"' * MEGABYTE,
    "commas": "," * MEGABYTE,
    "digits": "1" * MEGABYTE,
    "newlines": "\n" * MEGABYTE,
    "one huge list": "[" + '"Billy Ramos", ' * (MEGABYTE // 15) + "]",
    "nested brackets": "[[" * (MEGABYTE // 4) + "]]" * (MEGABYTE // 4),
    "sudoku rows": "1342\n" * (MEGABYTE // 5),
    "latin rows": "A, B, C, D\n" * (MEGABYTE // 11),
    "quoted commas": '",' * (MEGABYTE // 2),
}


@pytest.mark.parametrize("name", LIST_AND_PUZZLE_TASKS)
def test_megabyte_outputs_through_list_and_puzzle_tasks(tasks, name):
    for _, scores in scored_in_time(tasks[name], ADVERSARIAL_MEGABYTES):
        assert_scores_in_unit_interval(scores)
