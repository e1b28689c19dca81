"""Background work of the sign-in pages (the task worker runs it: `manage.py db_worker`, or
`run_redis_tasks` with TASKS_BACKEND=redis)."""

from __future__ import annotations

from django.tasks import task

from accounts import resets


@task()
def answer_reset_request(
    email: str, outcome: str, client: str, domain: str, use_https: bool
) -> int:
    """A "Forgot your password?" request's e-mail and audit events (accounts/resets.py)."""
    return resets.answer(email, resets.Outcome(outcome), client, domain, use_https)
