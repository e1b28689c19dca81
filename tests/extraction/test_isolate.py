"""The isolated extraction process: kept between jobs, replaced when it dies, and gone
when the worker that started it is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from extraction.pipeline import isolate
from extraction.pipeline.errors import ExtractionError, Timeout
from extraction.pipeline.result import Limits

ROOT = Path(__file__).resolve().parents[2]
INVOICE = b"Invoice No: 123\nTotal: 5.00 EUR\n"


def _gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie waiting for init to reap it counts)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def _wait_gone(pid: int, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(autouse=True)
def fresh_child():
    isolate.shutdown()
    yield
    isolate.shutdown()


def test_one_process_serves_job_after_job():
    first = isolate.extract_isolated(INVOICE, "a.txt", doc_type="invoice")
    pid = isolate.child_pid()
    second = isolate.extract_isolated(INVOICE, "b.txt", doc_type="invoice")
    assert {f.name: f.value for f in first.fields}["invoice_number"] == "123"
    assert {f.name: f.value for f in second.fields}["invoice_number"] == "123"
    assert pid is not None and isolate.child_pid() == pid


def test_a_dead_process_fails_nothing_but_is_replaced():
    isolate.extract_isolated(INVOICE, "a.txt")
    pid = isolate.child_pid()
    os.kill(pid, signal.SIGKILL)
    assert _wait_gone(pid)
    result = isolate.extract_isolated(INVOICE, "a.txt", doc_type="invoice")
    assert {f.name: f.value for f in result.fields}["invoice_number"] == "123"
    assert isolate.child_pid() not in (None, pid)


def test_a_job_past_its_limit_kills_the_process():
    isolate.extract_isolated(INVOICE, "a.txt")
    pid = isolate.child_pid()
    with pytest.raises(Timeout):
        # A page that takes longer than no time at all, with no grace: the kill decides.
        isolate.extract_isolated(
            INVOICE * 20000, "a.txt", limits=Limits(timeout_seconds=1e-6), grace_seconds=0
        )
    assert _wait_gone(pid)
    assert isolate.child_pid() is None


def test_errors_come_back_as_errors():
    with pytest.raises(ExtractionError) as caught:
        isolate.extract_isolated(b"", "a.txt")
    assert caught.value.code == "empty"


WORKER = """
import sys, time
from extraction.pipeline import isolate
isolate.extract_isolated(b"Total: 5.00", "a.txt")
print(isolate.child_pid(), flush=True)
time.sleep(120)
"""


def test_the_process_dies_when_its_worker_is_killed():
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    child = 0
    try:
        child = int(worker.stdout.readline())
        assert not _gone(child)
        # Stopped, the child stands for one busy in native code: it would never notice
        # its pipe closing. Only the kernel's parent-death signal can end it.
        os.kill(child, signal.SIGSTOP)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        assert _wait_gone(child), "the extraction process outlived its worker"
    finally:
        worker.kill()
        worker.wait(10)
        if child and not _gone(child):
            os.kill(child, signal.SIGKILL)
