"""Run :func:`extract` in a child process with a hard time limit.

``extract()`` checks its deadline between pages and stages, but one native call
(a pathological PDF page in pdfium, one OCR inference) cannot be interrupted from
Python.  A worker that must survive any document can call :func:`extract_isolated`:
the child is killed when ``limits.timeout_seconds`` (plus a grace period) passes,
and :class:`Timeout` is raised in the parent.  Costs a process start and the OCR
model load (about 1-2 s) per call.
"""

from __future__ import annotations

import multiprocessing as mp
import traceback

from .errors import ExtractionError, Timeout
from .result import ExtractionResult, Limits


def _child(conn, data, filename, doc_type, schema, limits, ocr_engine):
    from .core import extract

    try:
        result = extract(data, filename, doc_type, schema, limits, ocr_engine=ocr_engine)
        conn.send(("ok", result))
    except ExtractionError as exc:
        conn.send(("error", (type(exc).__name__, exc.code, exc.message)))
    except BaseException:  # report anything else as a failure with its traceback
        conn.send(("crash", traceback.format_exc(limit=5)))
    finally:
        conn.close()


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
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(
        target=_child,
        args=(child, data, filename, doc_type, schema, limits, ocr_engine),
        daemon=True,
    )
    proc.start()
    child.close()
    wait = (limits.timeout_seconds or 0) + grace_seconds if limits.timeout_seconds else None
    try:
        if not parent.poll(wait):
            raise Timeout(f"Extraction exceeded its time limit of {limits.timeout_seconds:g} s.")
        status, payload = parent.recv()
    except EOFError as exc:
        raise ExtractionError(
            f"The extraction process died (exit code {proc.exitcode}).", code="worker_crashed"
        ) from exc
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(1)
        parent.close()
    if status == "ok":
        return payload
    if status == "error":
        name, code, message = payload
        cls = getattr(errors, name, ExtractionError)
        raise cls(message, code=code)
    raise ExtractionError(f"The extraction failed unexpectedly:\n{payload}", code="internal_error")
