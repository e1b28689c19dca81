from __future__ import annotations

import os
import sys

from django.core.wsgi import get_wsgi_application

from a2v2.config import one_line_errors, require_secret_key

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "a2v2.settings")

# A configuration mistake is one line, and exit code 3 (gunicorn's "worker failed to
# boot") stops gunicorn instead of restarting workers that can never start.
with one_line_errors(exit_code=3):
    require_secret_key([sys.argv[0], "serve"])
    application = get_wsgi_application()
