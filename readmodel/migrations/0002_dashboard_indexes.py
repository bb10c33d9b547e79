"""The dashboard's indexes: one per filter, with the listing's order (readmodel/models.py says why).

The B-tree indexes are the model's Meta.indexes. The trigram index for ``customer=`` exists on
PostgreSQL only: it needs the pg_trgm extension (a trusted extension, which the database's owner
may create) and GIN, which SQLite has neither of. On SQLite both of its operations do nothing.
"""

from typing import Any

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

#: ``customer__icontains`` on PostgreSQL compares ``UPPER("customer_name"::text) LIKE UPPER(%s)``;
#: a GIN index with gin_trgm_ops on that same expression serves the LIKE, leading wildcard and all.
#: (Written as SQL: Django's OpClass renders only with django.contrib.postgres installed.)
CUSTOMER_TRIGRAM = (
    'CREATE INDEX "summary_customer_trgm" ON "readmodel_ordersummary" USING gin (UPPER("customer_name") gin_trgm_ops)'
)


class RunSQLOnPostgreSQL(migrations.RunSQL):
    """RunSQL that does nothing on an engine other than PostgreSQL (``sqlmigrate`` still prints it there)."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)

    def describe(self) -> str:
        return "Raw SQL operation, PostgreSQL only"


class Migration(migrations.Migration):
    dependencies = [
        ("readmodel", "0001_initial"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="ordersummary",
            name="summary_newest_first",
        ),
        migrations.RemoveIndex(
            model_name="ordersummary",
            name="summary_by_status",
        ),
        migrations.AddIndex(
            model_name="ordersummary",
            index=models.Index(fields=["-placed_at", "order_id"], name="summary_newest_first"),
        ),
        migrations.AddIndex(
            model_name="ordersummary",
            index=models.Index(fields=["status", "-placed_at", "order_id"], name="summary_by_status"),
        ),
        migrations.AddIndex(
            model_name="ordersummary",
            index=models.Index(
                fields=["-placed_at", "order_id"], condition=models.Q(flagged=True), name="summary_flagged_newest_first"
            ),
        ),
        migrations.AddIndex(
            model_name="ordersummary",
            index=models.Index(fields=["total"], name="summary_by_total"),
        ),
        # PostgreSQL only (TrigramExtension itself does nothing on another engine).
        TrigramExtension(),
        RunSQLOnPostgreSQL(CUSTOMER_TRIGRAM, reverse_sql='DROP INDEX IF EXISTS "summary_customer_trgm"'),
    ]
