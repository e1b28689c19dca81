#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "a2v2.settings")
    from django.core.management import execute_from_command_line

    from a2v2.config import one_line_errors, require_secret_key

    # A configuration mistake is one line naming the setting, not a traceback (exit 2).
    with one_line_errors():
        require_secret_key(sys.argv)
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
