"""What a failed send looks like: the SMTP server refusing, or not answering, raises one of
these. Callers turn it into a message, never an HTML 500."""

from __future__ import annotations

import smtplib

SEND_ERRORS: tuple[type[Exception], ...] = (OSError, smtplib.SMTPException)

NOT_SENT = (
    "The e-mail could not be sent: the mail server did not take it. Nothing was changed; "
    "try again, or ask your operator to check the e-mail settings (manage.py sendtestemail)."
)
