"""Run :func:`extract` in a child process with a hard time limit.

``extract()`` checks its deadline between pages and stages, but one native call
(a pathological PDF page in pdfium, one OCR inference) cannot be interrupted from
Python.  A worker that must survive any document calls :func:`extract_isolated`:
the job runs in a child process, which is killed when ``limits.timeout_seconds``
(plus a grace period) passes, and :class:`Timeout` is raised in the parent.

The child lives on between jobs (one per worker thread), so the imports and the OCR and
receipt models are loaded once, not per job (about 1.4 s each time). It is replaced when
it is killed at a time limit or dies, and it dies with the thread that started it
(``PR_SET_PDEATHSIG``): a worker killed with SIGKILL leaves no orphan holding the models.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
import threading
import traceback

from . import config
from .errors import ExtractionError, Timeout
from .result import ExtractionResult, Limits

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when its parent goes; if it is gone already, go."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _serve(conn, parent_pid: int) -> None:
    """The child: run one job per message until the parent closes the pipe."""
    _die_with_parent(parent_pid)
    from .core import extract

    while True:
        try:
            data, filename, doc_type, schema, limits, ocr_engine, settings = conn.recv()
        except (EOFError, OSError):
            return
        config.configure(settings)  # the parent's, as the job was sent
        try:
            result = extract(data, filename, doc_type, schema, limits, ocr_engine=ocr_engine)
            conn.send(("ok", result))
        except ExtractionError as exc:
            conn.send(("error", (type(exc).__name__, exc.code, exc.message)))
        except BaseException:  # report anything else as a failure with its traceback
            conn.send(("crash", traceback.format_exc(limit=5)))


class _Child:
    """One long-lived extraction process and the parent's end of its pipe."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child_conn = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_serve, args=(child_conn, os.getpid()), daemon=True)
        self.process.start()
        child_conn.close()

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(1)
        self.conn.close()


_local = threading.local()


def _child() -> _Child:
    child = getattr(_local, "child", None)
    if child is None or not child.process.is_alive():
        if child is not None:
            child.stop()
        child = _local.child = _Child()
    return child


def child_pid() -> int | None:
    """The pid of this thread's extraction process, if one is running."""
    child = getattr(_local, "child", None)
    return child.process.pid if child and child.process.is_alive() else None


def shutdown() -> None:
    """Stop this thread's extraction process (the next job starts a new one)."""
    child = getattr(_local, "child", None)
    if child is not None:
        child.stop()
        _local.child = None


def extract_isolated(
    data: bytes,
    filename: str,
    doc_type: str | None = None,
    schema: list[dict] | None = None,
    limits: Limits | None = None,
    *,
    ocr_engine: str | None = None,
    grace_seconds: float = 5.0,
) -> ExtractionResult:
    """Same contract as :func:`extract`, enforced in a separate (spawned) process."""
    from . import errors

    limits = limits or Limits()
    child = _child()
    wait = (limits.timeout_seconds or 0) + grace_seconds if limits.timeout_seconds else None
    try:
        child.conn.send((data, filename, doc_type, schema, limits, ocr_engine, config.current()))
        if not child.conn.poll(wait):
            shutdown()  # the job may still be running in native code: only a kill stops it
            raise Timeout(f"Extraction exceeded its time limit of {limits.timeout_seconds:g} s.")
        status, payload = child.conn.recv()
    except (EOFError, BrokenPipeError, ConnectionResetError) as exc:
        child.process.join(1)
        code = child.process.exitcode
        shutdown()
        raise ExtractionError(
            f"The extraction process died (exit code {code}).", code="worker_crashed"
        ) from exc
    if status == "ok":
        return payload
    if status == "error":
        name, code, message = payload
        cls = getattr(errors, name, ExtractionError)
        raise cls(message, code=code)
    raise ExtractionError(f"The extraction failed unexpectedly:\n{payload}", code="internal_error")
