from __future__ import annotations

from typing import Any

from django_tasks_redis.management.commands.run_redis_tasks import Command as RedisWorker

from extraction.worker import WorkerMaintenance


class Command(RedisWorker):
    @property
    def help(self) -> str:
        return (
            "Run a Redis task worker (django-tasks-redis's run_redis_tasks), which also "
            "reports itself alive and sweeps the extraction jobs: it queues again jobs whose "
            "worker died and sends again jobs whose message was lost (docs/deploy.md)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with WorkerMaintenance("redis"):
            super().handle(*args, **options)
