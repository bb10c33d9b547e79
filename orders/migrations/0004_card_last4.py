"""The order row keeps the card's last four characters instead of its token.

Filled from the old column before it is dropped, so existing orders keep the card the issuer
simulation decides by (contracts/cards.py). Irreversible in substance: going back restores
a ``payment_token`` column holding only the last four characters, since the tokens are gone.
"""

from typing import Any

from django.db import migrations, models
from django.db.models.functions import Right


def keep_last_four(apps: Any, schema_editor: Any) -> None:
    """One UPDATE: the last four characters of every stored token (an empty one keeps the default)."""
    Order = apps.get_model("orders", "Order")
    Order.objects.exclude(payment_token="").update(card_last4=Right("payment_token", 4))


def restore_column(apps: Any, schema_editor: Any) -> None:
    Order = apps.get_model("orders", "Order")
    Order.objects.update(payment_token=models.F("card_last4"))


class Migration(migrations.Migration):

    dependencies = [
        ("orders", "0003_saga"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="card_last4",
            field=models.CharField(
                default="4242",
                help_text="The card token's last four characters: never the token itself.",
                max_length=4,
            ),
        ),
        migrations.RunPython(keep_last_four, restore_column),
        migrations.RemoveField(
            model_name="order",
            name="payment_token",
        ),
    ]
