"""The walkthrough resets the demo stock only where it owns the database.

Every chapter restores the seeded stock. On the embedded memory:// broker that is the
walkthrough's own shop; on a real broker it is the shop of ``make run``, whose stock open orders
may have reserved, so there it refuses unless ``--reset-catalog`` says the shop is its own
(lesson/walkthrough/context.py). Nothing here connects to a broker: the refusal comes first.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from rich.console import Console

from catalog.models import Product
from catalog.services import seed_catalog
from lesson.walkthrough import run_walkthrough
from lesson.walkthrough.context import Context, WalkthroughError, may_reset_catalog

REDIS = "redis://localhost:6379/0"


@pytest.fixture
def shop_in_use(db: None) -> dict[str, int]:
    """The demo catalog of a running shop: some of its stock reserved by open orders."""
    seed_catalog()
    Product.objects.filter(sku="PROD-A").update(stock=91)
    Product.objects.filter(sku="PROD-E").update(stock=0)
    return stocks()


def stocks() -> dict[str, int]:
    return dict(Product.objects.values_list("sku", "stock"))


def console() -> Console:
    return Console(file=StringIO(), width=160)


@pytest.mark.parametrize(
    ("embedded", "reset_requested", "allowed"),
    [(True, False, True), (True, True, True), (False, False, False), (False, True, True)],
)
def test_only_the_embedded_broker_or_an_explicit_request_may_reset(
    embedded: bool, reset_requested: bool, allowed: bool
) -> None:
    assert may_reset_catalog(embedded=embedded, reset_requested=reset_requested) is allowed


@override_settings(CELERY_BROKER_URL=REDIS)
def test_a_real_broker_is_refused_before_the_stock_changes(shop_in_use: dict[str, int]) -> None:
    with pytest.raises(WalkthroughError, match="--reset-catalog") as refused:
        run_walkthrough(console(), broker=REDIS, chapter=1)
    assert "make demo" in str(refused.value)
    assert stocks() == shop_in_use


@override_settings(CELERY_BROKER_URL=REDIS)
def test_the_command_names_what_to_do(shop_in_use: dict[str, int]) -> None:
    with pytest.raises(CommandError, match="refuses") as refused:
        call_command("walkthrough", "--broker", REDIS, stdout=StringIO())
    message = str(refused.value)
    assert "--reset-catalog" in message and "DATABASE_URL" in message
    assert stocks() == shop_in_use


def test_a_chapter_cannot_reset_a_real_brokers_shop_either(shop_in_use: dict[str, int]) -> None:
    ctx = Context(console(), ("command",), REDIS, embedded=False)
    with pytest.raises(WalkthroughError, match="--reset-catalog"):
        ctx.reset_catalog()
    assert stocks() == shop_in_use


@pytest.mark.parametrize(("embedded", "reset_requested"), [(True, False), (False, True)])
def test_where_allowed_a_chapter_restores_the_seeded_stock(
    shop_in_use: dict[str, int], embedded: bool, reset_requested: bool
) -> None:
    ctx = Context(console(), ("command",), REDIS, embedded=embedded, reset_requested=reset_requested)
    ctx.reset_catalog()
    assert stocks()["PROD-A"] == 100 and stocks()["PROD-E"] == 1
