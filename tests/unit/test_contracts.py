"""The contract registry: resolving names and versions, validating data, and naming the bad field."""

from __future__ import annotations

import uuid

import pytest
from pydantic import BaseModel

from messaging.kernel import contracts
from messaging.kernel.envelope import Envelope
from messaging.kernel.errors import InvalidMessage, MessageKindError, UnknownMessageType, UnsupportedVersion
from messaging.kernel.names import Kind, check_name, is_past_tense
from messaging.kernel.routing import command_queues

ORDER_ID = str(uuid.uuid4())


def test_resolving_an_unknown_type_raises() -> None:
    with pytest.raises(UnknownMessageType, match=r"'order\.exploded'"):
        contracts.resolve("order.exploded")


def test_resolving_an_unknown_version_lists_the_known_ones() -> None:
    with pytest.raises(UnsupportedVersion, match=r"'order.placed' has no version 7 \(known: v1, v2, v3\)"):
        contracts.resolve("order.placed", 7)


def test_resolving_without_a_version_gives_the_newest() -> None:
    newest = max(c.version for c in contracts.all_contracts() if c.name == "order.placed")
    assert contracts.resolve("order.placed").version == newest
    assert contracts.resolve("order.placed", 1).name == "order.placed"


def test_a_valid_payload_parses() -> None:
    parsed = contracts.parse(
        "inventory.reserve", 1, {"order_id": ORDER_ID, "items": [{"product_id": 1, "quantity": 2}]}
    )
    assert str(parsed.order_id) == ORDER_ID  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "data", "field"),
    [
        (
            "inventory.reserve",
            {"order_id": ORDER_ID, "items": [{"product_id": 1, "quantity": 0}]},
            "data.items.0.quantity",
        ),
        (
            "inventory.reserve",
            {"order_id": ORDER_ID, "items": [{"product_id": 1, "quantity": 1}, {"product_id": -4, "quantity": 1}]},
            "data.items.1.product_id",
        ),
        ("inventory.reserve", {"order_id": "not-a-uuid", "items": [{"product_id": 1, "quantity": 1}]}, "data.order_id"),
        ("inventory.reserve", {"order_id": ORDER_ID, "items": []}, "data.items"),
        ("inventory.release", {}, "data.order_id"),
        ("email.send", {"to": "not an email", "template": "order-confirmation"}, "data.to"),
        ("email.send", {"to": "a@example.com", "template": "spam"}, "data.template"),
    ],
)
def test_a_schema_violation_names_the_field(name: str, data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidMessage) as info:
        contracts.parse(name, 1, data)
    assert f"{field}:" in str(info.value)
    assert str(info.value).startswith(f"{name} v1: ")


def test_extra_fields_are_forbidden() -> None:
    with pytest.raises(InvalidMessage, match=r"data\.surprise: Extra inputs are not permitted"):
        contracts.parse("inventory.release", 1, {"order_id": ORDER_ID, "surprise": 1})


def test_extra_fields_are_forbidden_in_nested_lines_too() -> None:
    with pytest.raises(InvalidMessage, match=r"data\.items\.0\.colour"):
        contracts.parse(
            "inventory.reserve",
            1,
            {"order_id": ORDER_ID, "items": [{"product_id": 1, "quantity": 1, "colour": "red"}]},
        )


def test_extra_fields_are_forbidden_in_the_envelope() -> None:
    wire = Envelope(kind=Kind.EVENT, type="order.cancelled", correlation_id="c", producer="orders", data={}).to_wire()
    with pytest.raises(InvalidMessage, match="surprise"):
        Envelope.from_wire({**wire, "surprise": True})


def test_parse_with_an_unknown_version_raises_unsupported_version() -> None:
    with pytest.raises(UnsupportedVersion):
        contracts.parse("inventory.release", 2, {"order_id": ORDER_ID})


def test_every_registered_contract_follows_the_naming_rule() -> None:
    registered = contracts.all_contracts()
    assert len(registered) >= 15, "importing contracts registers every contract"
    for contract in registered:
        check_name(contract.name, contract.kind)
        action = contract.name.split(".", 1)[1].split("_")
        if contract.kind is Kind.EVENT:
            assert is_past_tense(action[-1]), contract.name
        else:
            assert not is_past_tense(action[0]), contract.name


def test_every_registered_schema_forbids_extra_fields() -> None:
    for contract in contracts.all_contracts():
        assert contract.schema.model_config.get("extra") == "forbid", contract.name


def test_every_command_has_a_queue_and_every_queue_a_command() -> None:
    commands = {c.name for c in contracts.all_contracts() if c.kind is Kind.COMMAND}
    assert commands == set(command_queues())


def test_the_architecture_names_are_registered_with_the_right_kind() -> None:
    for name in ("inventory.reserve", "inventory.release", "email.send", "analytics.record", "fraud.check"):
        assert contracts.resolve(name).kind is Kind.COMMAND
    for name in ("order.placed", "order.cancelled", "order.confirmed", "order.flagged", "inventory.reserved"):
        assert contracts.resolve(name).kind is Kind.EVENT


def test_a_name_cannot_be_registered_as_both_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contracts, "_contracts", {k: dict(v) for k, v in contracts._contracts.items()})

    class Other(BaseModel):
        pass

    # 'mark_paid' passes both halves of the rule: imperative first word, past-tense last word.
    contracts.register("order.mark_paid", Kind.EVENT, Other)
    with pytest.raises(MessageKindError, match="already registered as"):
        contracts.register("order.mark_paid", Kind.COMMAND, Other, version=2)
    assert contracts.resolve("order.mark_paid").kind is Kind.EVENT
