"""The statements every message runs (the inbox, message log and outbox rows; the services' own
locked reads and upserts), as SQL built once.

Why not ``Model.objects.create``: a profile of a throughput run showed the ORM building and
compiling the same INSERT for every message (a model instance, ``save``'s signal dispatch, the
SQL compiler): more of a worker's Python than the statement itself. This builds each statement
once per database vendor from the model's own fields and converts each value with that field's
``get_db_prep_save``, as the ORM's insert compiler does, so the row written is the same
(a unit test compares the two). No model here has signal receivers or a custom ``save``.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, models, router
from django.utils import timezone


class Insert:
    """``INSERT INTO <table> (<every concrete column but the auto id>) VALUES (...)``.

    Values not given take the field's default; ``auto_now_add`` fields take the current time.
    ``skip_conflicts`` adds ``ON CONFLICT DO NOTHING`` (PostgreSQL and SQLite both have it): the
    call then returns 0 where a unique constraint already holds the row, instead of raising.
    """

    def __init__(
        self, model: type[models.Model], *, skip_conflicts: bool = False, update_on: tuple[str, ...] = ()
    ) -> None:
        """``update_on`` names a unique key: a row already there is updated with every other
        column given (``ON CONFLICT (key) DO UPDATE SET c = EXCLUDED.c``): an upsert."""
        self.model = model
        self.skip_conflicts = skip_conflicts
        self.update_on = update_on
        self.fields: list[models.Field[Any, Any]] = [
            f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField | models.BigAutoField)
        ]
        self.names = {f.name for f in self.fields}
        self._sql: dict[str, str] = {}

    def sql(self, vendor: str, quote: Any) -> str:
        built = self._sql.get(vendor)
        if built is None:
            columns = ", ".join(quote(f.column) for f in self.fields)
            marks = ", ".join(["%s"] * len(self.fields))
            built = f"INSERT INTO {quote(self.model._meta.db_table)} ({columns}) VALUES ({marks})"
            if self.skip_conflicts:
                built += " ON CONFLICT DO NOTHING"
            elif self.update_on:
                key = [self.model._meta.get_field(name) for name in self.update_on]
                target = ", ".join(quote(f.column) for f in key)  # type: ignore[union-attr]
                updated = [f for f in self.fields if f not in key]
                sets = ", ".join(f"{quote(f.column)} = EXCLUDED.{quote(f.column)}" for f in updated)
                built += f" ON CONFLICT ({target}) DO UPDATE SET {sets}"
            self._sql[vendor] = built
        return built

    def __call__(self, **values: Any) -> int:
        """Insert one row; how many rows were written (0 only with ``skip_conflicts``)."""
        unknown = values.keys() - self.names
        if unknown:
            raise TypeError(f"{self.model.__name__} has no field(s) {sorted(unknown)}")
        connection = connections[router.db_for_write(self.model)]
        params = []
        now = None
        for field in self.fields:
            if field.name in values:
                value = values[field.name]
            elif getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False):
                value = now = now or timezone.now()
            else:
                value = field.get_default()
            params.append(field.get_db_prep_save(value, connection))
        with connection.cursor() as cursor:
            cursor.execute(self.sql(connection.vendor, connection.ops.quote_name), params)
            return int(cursor.rowcount)


class Exists:
    """``SELECT 1 FROM <table> WHERE <field> = %s AND ... LIMIT 1``, built once: the inbox check
    and the fault check that run for every message, without the ORM's per-call query building.
    ``exist_each`` asks several of them in one statement."""

    def __init__(self, model: type[models.Model], *names: str) -> None:
        self.model = model
        self.fields: list[models.Field[Any, Any]] = []
        for name in names:
            field = model._meta.get_field(name)
            assert isinstance(field, models.Field), f"{model.__name__}.{name} is not a column"
            self.fields.append(field)
        self._sql: dict[str, str] = {}

    def query(self, connection: Any) -> str:
        """The SELECT for ``connection``'s vendor, built the first time it is asked for."""
        sql = self._sql.get(connection.vendor)
        if sql is None:
            quote = connection.ops.quote_name
            where = " AND ".join(f"{quote(f.column)} = %s" for f in self.fields if f.column)
            sql = self._sql[connection.vendor] = (
                f"SELECT 1 FROM {quote(self.model._meta.db_table)} WHERE {where} LIMIT 1"
            )
        return sql

    def params(self, values: tuple[Any, ...], connection: Any) -> list[Any]:
        return [f.get_db_prep_value(v, connection) for f, v in zip(self.fields, values, strict=True)]

    def __call__(self, *values: Any) -> bool:
        connection = connections[router.db_for_read(self.model)]
        with connection.cursor() as cursor:
            cursor.execute(self.query(connection), self.params(values, connection))
            return cursor.fetchone() is not None


#: ``exist_each``'s statements, by vendor and the checks asked.
_combined: dict[tuple[str, tuple[int, ...]], str] = {}


def exist_each(*checks: tuple[Exists, tuple[Any, ...]]) -> tuple[bool, ...]:
    """Each check's answer, from one ``SELECT EXISTS (...), EXISTS (...)``: one round trip.

    Why: every message asks two questions before its transaction (is it in this consumer's
    inbox? is a fault armed for it?), and on PostgreSQL each statement is a round trip to a
    server that shares the machine's CPUs. Both subqueries read under the same snapshot, as
    two autocommit statements one after the other would have (nothing here locks). All the
    checks' tables must live in one database (the app has one).
    """
    if not checks:
        return ()
    connection = connections[router.db_for_read(checks[0][0].model)]
    key = (connection.vendor, tuple(id(check) for check, _ in checks))
    sql = _combined.get(key)
    if sql is None:
        sql = _combined[key] = "SELECT " + ", ".join(f"EXISTS ({check.query(connection)})" for check, _ in checks)
    params = [p for check, values in checks for p in check.params(values, connection)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return tuple(bool(answer) for answer in row)


class Select:
    """One model instance by equality on ``names``, or None: ``SELECT <every column> FROM <table>
    WHERE ... [FOR UPDATE]``, built once, the values converted by the backend's and the fields'
    converters and the instance made with ``Model.from_db``, as the ORM's ``ModelIterable`` does
    (``tests/unit/test_rows.py`` compares the two). ``for_update`` locks the row where the
    database can (``select_for_update``'s rule: SQLite has no row locks and ignores it).

    Why: ``orders/rows.locked`` and the projector's reads run in every message a service
    handles, and the ORM compiled the same SELECT each time (docs/benchmarks.md, "Where the
    limits are").
    """

    def __init__(self, model: type[models.Model], *names: str, for_update: bool = False) -> None:
        self.model = model
        self.where = Exists(model, *names)
        self.for_update = for_update
        self.fields = list(model._meta.concrete_fields)
        self.attnames = [f.attname for f in self.fields]
        self._built: dict[str, tuple[str, list[tuple[int, list[Any], Any]]]] = {}

    def _build(self, connection: Any) -> tuple[str, list[tuple[int, list[Any], Any]]]:
        built = self._built.get(connection.vendor)
        if built is None:
            quote = connection.ops.quote_name
            table = quote(self.model._meta.db_table)
            columns = ", ".join(f"{table}.{quote(f.column)}" for f in self.fields)
            where = " AND ".join(f"{quote(f.column)} = %s" for f in self.where.fields)
            sql = f"SELECT {columns} FROM {table} WHERE {where}"
            if self.for_update and connection.features.has_select_for_update:
                sql += " " + connection.ops.for_update_sql()
            converters = []
            for i, field in enumerate(self.fields):
                col = field.get_col(self.model._meta.db_table)
                found = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
                if found:
                    converters.append((i, found, col))
            built = self._built[connection.vendor] = (sql, converters)
        return built

    def __call__(self, *values: Any) -> Any:
        db = router.db_for_write(self.model) if self.for_update else router.db_for_read(self.model)
        connection = connections[db]
        sql, converters = self._build(connection)
        with connection.cursor() as cursor:
            cursor.execute(sql, self.where.params(values, connection))
            row = cursor.fetchone()
        if row is None:
            return None
        if converters:
            row = list(row)
            for i, found, col in converters:
                value = row[i]
                for converter in found:
                    value = converter(value, col, connection)
                row[i] = value
        return self.model.from_db(db, self.attnames, row)


class Update:
    """``UPDATE <table> SET <columns> = %s, ... WHERE <pk> = %s``, built once: the projector's
    tracking row, whose ``save()`` wrote every column through the ORM's update compiler.
    ``auto_now`` fields not given take the current time, as ``save`` gives them."""

    def __init__(self, model: type[models.Model], *names: str) -> None:
        self.model = model
        fields = [model._meta.get_field(name) for name in names]
        fields += [f for f in model._meta.concrete_fields if getattr(f, "auto_now", False) and f not in fields]
        self.fields: list[models.Field[Any, Any]] = fields  # type: ignore[assignment]
        pk = model._meta.pk
        assert pk is not None and pk.column, f"{model.__name__} has no primary key column"
        self.pk: models.Field[Any, Any] = pk
        self.pk_column: str = pk.column
        self._sql: dict[str, str] = {}

    def __call__(self, pk: Any, **values: Any) -> int:
        connection = connections[router.db_for_write(self.model)]
        sql = self._sql.get(connection.vendor)
        if sql is None:
            quote = connection.ops.quote_name
            sets = ", ".join(f"{quote(f.column or f.name)} = %s" for f in self.fields)
            where = f"{quote(self.pk_column)} = %s"
            sql = self._sql[connection.vendor] = f"UPDATE {quote(self.model._meta.db_table)} SET {sets} WHERE {where}"
        now = None
        params = []
        for field in self.fields:
            if field.name in values:
                value = values[field.name]
            elif getattr(field, "auto_now", False):
                value = now = now or timezone.now()
            else:
                raise TypeError(f"{self.model.__name__}.{field.name} has no value to set")
            params.append(field.get_db_prep_save(value, connection))
        params.append(self.pk.get_db_prep_value(pk, connection))
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return int(cursor.rowcount)
