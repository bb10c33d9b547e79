"""The naming rule: commands are imperative, events are past tense, every name is '<area>.<action>'."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel

from messaging.kernel import contracts
from messaging.kernel.errors import NamingError
from messaging.kernel.names import Kind, check_name


class Payload(BaseModel):
    pass


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Contracts registered here must not leak into the real registry other tests iterate."""
    monkeypatch.setattr(contracts, "_contracts", {k: dict(v) for k, v in contracts._contracts.items()})


@pytest.mark.parametrize(
    ("name", "kind", "why"),
    [
        ("order.place", Kind.EVENT, "past tense"),
        ("inventory.reserve", Kind.EVENT, "past tense"),
        ("order.proceed", Kind.EVENT, "past tense"),  # ends in -ed, but is not past tense
        ("inventory.reserved", Kind.COMMAND, "imperative"),
        ("order.placed", Kind.COMMAND, "imperative"),
        ("email.sent", Kind.COMMAND, "imperative"),  # irregular past
    ],
)
def test_registering_a_name_of_the_wrong_tense_raises(name: str, kind: Kind, why: str) -> None:
    before = {k: dict(v) for k, v in contracts._contracts.items()}
    with pytest.raises(NamingError, match=why):
        contracts.register(name, kind, Payload)
    assert contracts._contracts == before, "a refused name must leave the registry untouched"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("order.placed", Kind.EVENT),
        ("inventory.reservation_failed", Kind.EVENT),
        ("order.paid", Kind.EVENT),
        ("shipment.sent", Kind.EVENT),
        ("inventory.reserve", Kind.COMMAND),
        ("email.send", Kind.COMMAND),
        ("orders.review_risk", Kind.COMMAND),
        ("fraud.check", Kind.COMMAND),
    ],
)
def test_good_names_pass(name: str, kind: Kind) -> None:
    check_name(name, kind)


def test_registering_a_new_well_named_contract_works() -> None:
    contract = contracts.register("parcel.lost", Kind.EVENT, Payload)
    assert contracts.resolve("parcel.lost") is contract
    assert contract.kind is Kind.EVENT


@pytest.mark.parametrize(
    "name",
    [
        "placed",
        "reserve",
        ".placed",
        "order.",
        "Order.Placed",
        "order placed",
        "order.placed.twice",
        "1order.placed",
        "",
    ],
)
@pytest.mark.parametrize("kind", [Kind.COMMAND, Kind.EVENT])
def test_names_without_an_area_or_badly_formed_raise(name: str, kind: Kind) -> None:
    with pytest.raises(NamingError, match=re.escape("'<area>.<action>'")):
        contracts.register(name, kind, Payload)


def test_the_decorators_enforce_the_rule_too() -> None:
    with pytest.raises(NamingError):
        contracts.event("order.place")(Payload)
    with pytest.raises(NamingError):
        contracts.command("inventory.reserved")(Payload)
