"""gunicorn's configuration for every way A2V2 is served: `bin/run`, `bin/stack`
(bench/stack.py) and production (docs/deploy.md), as `gunicorn -c python:a2v2.gunicorn_conf
a2v2.wsgi`. Command-line options (bind, workers, …) still apply on top.

- **No credential in gunicorn's logs.** Its access and error logs get the app's own
  scrubbing filter (a2v2/logging.py), and the access log's header atoms for credentials
  (`%({x-api-key}i)s` …) are blanked, whatever `access_log_format` an operator sets.
- **The app answers oversized requests, in its JSON envelope.** gunicorn's request-line and
  header-field limits are raised above the app's own caps (OPEN_API_MAX_URL_BYTES,
  OPEN_API_MAX_HEADER_BYTES: 414 and 431 in the envelope), and the few errors gunicorn
  still answers itself (a request beyond these limits, a malformed request line) are
  written as the JSON envelope too, never as gunicorn's HTML page.
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn import glogging, util
from gunicorn.http import message

from a2v2.logging import REDACTED, SENSITIVE_HEADERS, RedactSecrets

# Above the app's caps (8 KB URL, 8 KB per header, 32 KB of headers), below anything that
# could hurt a worker. gunicorn clamps limit_request_line to MAX_REQUEST_LINE (8190) unless
# it is 0, which means unlimited: lift the clamp to our bound instead of going unlimited.
LIMIT_REQUEST_LINE = 65536
message.MAX_REQUEST_LINE = max(message.MAX_REQUEST_LINE, LIMIT_REQUEST_LINE)

limit_request_line = LIMIT_REQUEST_LINE
limit_request_field_size = 65536
limit_request_fields = 100


class RedactingLogger(glogging.Logger):
    """gunicorn's logger with credentials scrubbed from its access and error lines."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactSecrets) for f in log.filters):
                log.addFilter(RedactSecrets())

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        for header in SENSITIVE_HEADERS:
            for key in (f"{{{header}}}i", f"{{http_{header.replace('-', '_')}}}e"):
                if atoms.get(key):
                    atoms[key] = REDACTED
        return atoms


logger_class = RedactingLogger


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own error answers (400, 414, 431, 500 before the app runs) in the API's
    envelope instead of an HTML page."""
    body = json.dumps(
        {"success": False, "message": f"{reason}.", "errors": {}}, ensure_ascii=True
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin1") + body)


util.write_error = write_json_error
