"""Migrations are expand/contract (docs/deploy.md, "Upgrading"): while web and workers are
replaced one by one, the previous release's code runs on the new schema. So a migration
only adds what old code can live with (new tables; new columns that are nullable or have
a database default), and anything that removes or renames is a later, declared
`contract = True` migration that the CHANGELOG names."""

from __future__ import annotations

from django.db import migrations, models
from django.db.migrations.loader import MigrationLoader
from django.db.models.fields import NOT_PROVIDED
from django.test import override_settings

OUR_APPS = {"accounts", "apikeys", "contacts", "extraction"}
REMOVING = (
    migrations.RemoveField,
    migrations.RenameField,
    migrations.DeleteModel,
    migrations.RenameModel,
    migrations.AlterField,
)


def our_migrations() -> list[migrations.Migration]:
    # The migrations on disk, even where the test database was built without them
    # (pytest-django's --no-migrations swaps MIGRATION_MODULES for "none" once a test has
    # used the database; these tests then saw no migration at all).
    with override_settings(MIGRATION_MODULES={}):
        loader = MigrationLoader(None, ignore_no_migrations=True)
    assert any(app == "accounts" for app, _ in loader.disk_migrations), "no migration was read"
    return [
        migration
        for (app, _), migration in sorted(loader.disk_migrations.items())
        if app in OUR_APPS and not migration.initial
    ]


def test_added_columns_leave_old_code_able_to_insert_rows() -> None:
    problems = []
    for migration in our_migrations():
        for operation in migration.operations:
            if not isinstance(operation, migrations.AddField):
                continue
            field = operation.field
            if isinstance(field, models.GeneratedField):
                continue  # the database computes it: old code's inserts need not name it
            if not field.null and field.db_default is NOT_PROVIDED:
                problems.append(
                    f"{migration.app_label}.{migration.name}: {operation.model_name}."
                    f"{operation.name} is NOT NULL without db_default"
                )
    assert not problems, problems


def test_removals_and_renames_are_declared_contract_migrations() -> None:
    problems = [
        f"{migration.app_label}.{migration.name}: {type(operation).__name__}"
        for migration in our_migrations()
        for operation in migration.operations
        if isinstance(operation, REMOVING) and not getattr(migration, "contract", False)
    ]
    assert not problems, problems
