"""The event store's ``stream_id`` loses its own index: the unique (stream_id, version) pair leads
with it and serves every read by stream. Two indexes on PostgreSQL (the plain one and Django's
``varchar_pattern_ops`` one for LIKE), one on SQLite: pages written on every append, read by no
query (docs/benchmarks.md, "Append against the library's write").

The indexes are dropped by name, found by introspection, rather than by ``AlterField``: on SQLite
``AlterField`` remakes the table, which would drop the immutability triggers with the old table.
"""

from django.db import migrations, models

TABLE = "shop_eventrecord"


def stream_id_indexes(schema_editor):  # type: ignore[no-untyped-def]
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    return sorted(
        name
        for name, info in constraints.items()
        if info["index"] and not info["unique"] and not info["primary_key"] and info["columns"] == ["stream_id"]
    )


def drop_indexes(apps, schema_editor):  # type: ignore[no-untyped-def]
    quote = schema_editor.quote_name
    for name in stream_id_indexes(schema_editor):
        schema_editor.execute(f"DROP INDEX {quote(name)}")


def restore_index(apps, schema_editor):  # type: ignore[no-untyped-def]
    quote = schema_editor.quote_name
    schema_editor.execute(f"CREATE INDEX {quote(TABLE + '_stream_id')} ON {quote(TABLE)} ({quote('stream_id')})")


class Migration(migrations.Migration):
    dependencies = [
        ("shop", "0007_scrub_card_tokens"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="eventrecord",
                    name="stream_id",
                    field=models.CharField(max_length=64),
                ),
            ],
            database_operations=[migrations.RunPython(drop_indexes, restore_index)],
        ),
    ]
