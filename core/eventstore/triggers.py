"""Database triggers that reject UPDATE and DELETE on the event store, per database vendor.

PostgreSQL's TRUNCATE does not fire row triggers, so Django's test flush still works there.
SQLite's flush is a DELETE, so the test suite lifts the triggers around its flush only
(tests/conftest.py); nothing else does.
"""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = "shop_eventrecord"
MESSAGE = "event store rows are immutable"

SQL = {
    "sqlite": {
        "install": [
            f"CREATE TRIGGER IF NOT EXISTS {TABLE}_no_update BEFORE UPDATE ON {TABLE} "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: UPDATE refused'); END;",
            f"CREATE TRIGGER IF NOT EXISTS {TABLE}_no_delete BEFORE DELETE ON {TABLE} "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: DELETE refused'); END;",
        ],
        "uninstall": [f"DROP TRIGGER IF EXISTS {TABLE}_no_update;", f"DROP TRIGGER IF EXISTS {TABLE}_no_delete;"],
    },
    "postgresql": {
        "install": [
            f"""CREATE OR REPLACE FUNCTION {TABLE}_immutable() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{MESSAGE}: % refused', TG_OP; END; $$ LANGUAGE plpgsql;""",
            f"DROP TRIGGER IF EXISTS {TABLE}_immutable ON {TABLE};",
            f"CREATE TRIGGER {TABLE}_immutable BEFORE UPDATE OR DELETE ON {TABLE} "
            f"FOR EACH ROW EXECUTE FUNCTION {TABLE}_immutable();",
        ],
        "uninstall": [f"DROP TRIGGER IF EXISTS {TABLE}_immutable ON {TABLE};"],
    },
}


def _run(connection: BaseDatabaseWrapper, action: str) -> None:
    statements = SQL.get(connection.vendor)
    if statements is None:
        raise RuntimeError(f"no event-store triggers for {connection.vendor}: add them before using it")
    with connection.cursor() as cursor:
        for statement in statements[action]:
            cursor.execute(statement)


def install(connection: BaseDatabaseWrapper) -> None:
    _run(connection, "install")


def uninstall(connection: BaseDatabaseWrapper) -> None:
    _run(connection, "uninstall")
