"""Schema versions: old events stay as written, and every reader sees the newest shape.

``order.placed`` v1 carried a bare ``total``; v2 carries ``amount`` and ``currency``; v3 the
card's last four instead of v2's token. The upcasters (contracts/orders.py) turn one into
the next wherever old data is read: from the event store, and from the broker.
"""

from __future__ import annotations

import io
import json
import uuid
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from pydantic import BaseModel

from catalog.models import Customer, Product
from contracts.orders import OrderPlaced, OrderPlacedV1
from core.eventstore import store
from core.models import DeadLetter, EventRecord, InboxEntry, MessageLog
from fraud import services as fraud_services
from fraud.models import RiskAssessment
from messaging.kernel import contracts
from messaging.kernel.consuming import deliver_event
from messaging.kernel.envelope import Envelope
from messaging.kernel.errors import InvalidMessage, UnknownMessageType, UnsupportedVersion
from messaging.kernel.names import Kind
from orders import lifecycle
from tests.fakes import RecordingTransport

pytestmark = pytest.mark.db_engine

PLACED_AT = "2024-03-01T09:30:00+00:00"


def v1_placed(order_id: str, *, user_id: int = 1, product_id: int = 1, total: str = "49.99") -> Envelope:
    """``order.placed`` as a producer from before v2 wrote it: a bare total, no currency."""
    return Envelope(
        kind=Kind.EVENT,
        type="order.placed",
        version=1,
        correlation_id=order_id,
        producer="orders",
        data={
            "order_id": order_id,
            "user_id": user_id,
            "items": [{"product_id": product_id, "sku": "PROD-B", "quantity": 1, "unit_price": total}],
            "total": total,
            "placed_at": PLACED_AT,
        },
    )


# --- the event store: stored as v1, read as the newest ---------------------------------------


@pytest.mark.django_db
def test_v1_events_stored_by_the_old_code_are_read_as_the_newest() -> None:
    order_id = str(uuid.uuid4())
    old = v1_placed(order_id)
    OrderPlacedV1.model_validate(old.data)  # it is a valid v1 event, as the old producer wrote it
    store.append(order_id, [old], expected_version=0)

    (event,) = store.read_stream(order_id)
    assert (event.type, event.schema_version, event.stored_schema_version) == ("order.placed", 3, 1)
    assert event.data["amount"] == "49.99"
    assert event.data["currency"] == "EUR"
    assert event.data["card_last4"] == "4242"  # v1 had no card: the default one, as v2 assumed
    assert "total" not in event.data
    assert {k: v for k, v in event.data.items() if k not in {"amount", "currency", "card_last4"}} == {
        k: v for k, v in old.data.items() if k != "total"
    }
    OrderPlaced.model_validate(event.data)  # what the reader gets is a valid newest event

    # The row is untouched: events are immutable, upcasting happens on the way out.
    row = EventRecord.objects.get(stream_id=order_id)
    assert row.schema_version == 1
    assert row.data == old.data

    # read_all upcasts the same way, and replay folds the old event like a new one.
    assert [e.data for e in store.read_all(after_position=row.position - 1)] == [event.data]
    state = lifecycle.replay((e.type, e.data) for e in store.read_stream(order_id))
    assert (state["status"], state["total"], state["currency"]) == ("placed", Decimal("49.99"), "EUR")


@pytest.mark.django_db
def test_a_stream_mixing_v1_and_current_events_reads_in_the_newest_shapes() -> None:
    order_id = str(uuid.uuid4())
    store.append(order_id, [v1_placed(order_id, total="10.00")], expected_version=0)
    paid = Envelope(
        kind=Kind.EVENT,
        type="order.paid",
        correlation_id=order_id,
        producer="orders",
        data={"order_id": order_id, "method": "card", "paid_at": PLACED_AT},
    )
    store.append(order_id, [paid], expected_version=1)

    events = store.read_stream(order_id)
    assert [(e.type, e.stored_schema_version, e.schema_version) for e in events] == [
        ("order.placed", 1, 3),
        ("order.paid", 1, 1),
    ]
    assert events[1].data == paid.data  # already the newest version: passed through as stored
    state = lifecycle.replay((e.type, e.data) for e in events)
    assert (state["status"], state["total"]) == ("paid", Decimal("10.00"))


def test_parse_validates_v1_then_hands_over_the_newest() -> None:
    order_id = str(uuid.uuid4())
    parsed = contracts.parse("order.placed", 1, v1_placed(order_id, total="12.50").data)
    assert isinstance(parsed, OrderPlaced)
    assert (parsed.amount, parsed.currency) == (Decimal("12.50"), "EUR")


# --- the broker: a v1 message reaching a consumer of the newest version ----------------------


@pytest.mark.django_db(transaction=True)
def test_a_v1_message_is_upcast_for_a_v2_consumer(catalog: None, recorded: RecordingTransport) -> None:
    """Fraud's handler takes OrderPlaced (v3) and reads ``amount``; the v1 message has ``total``."""
    mallory = Customer.objects.get(email="mallory@mailinator.com")
    grinder = Product.objects.get(sku="PROD-C")  # 1250.00: a high-value order
    order_id = str(uuid.uuid4())
    wire = v1_placed(order_id, user_id=mallory.pk, product_id=grinder.pk, total="1250.00").to_wire()
    assert wire["version"] == 1 and "total" in wire["data"]

    result = deliver_event("fraud", wire, queue="fraud.events")

    assert result.status == MessageLog.Status.HANDLED, result.error
    assessment = RiskAssessment.objects.get(order_id=order_id)
    # high value (1250.00 ≥ 1000: +0.5) + disposable email (+0.35): only right if the total was read
    assert assessment.score == pytest.approx(0.85)
    assert assessment.flagged
    assert any("high order value (1250.00" in reason for reason in assessment.reasons)
    assert recorded.names == ["order.flagged"]
    assert not DeadLetter.objects.exists()


# --- unknown types and unsupported versions: clear errors, dead-lettered ----------------------


def test_parse_names_an_unknown_type() -> None:
    with pytest.raises(UnknownMessageType, match=r"^no contract is registered for message type 'order\.exploded'$"):
        contracts.parse("order.exploded", 1, {"order_id": str(uuid.uuid4())})


def test_parse_names_an_unsupported_version_and_the_known_ones() -> None:
    data = v1_placed(str(uuid.uuid4())).data
    with pytest.raises(UnsupportedVersion, match=r"^'order\.placed' has no version 4 \(known: v1, v2, v3\)$"):
        contracts.parse("order.placed", 4, data)


def test_parse_names_the_field_a_v1_message_is_missing() -> None:
    data = {k: v for k, v in v1_placed(str(uuid.uuid4())).data.items() if k != "total"}
    with pytest.raises(InvalidMessage, match=r"^order\.placed v1: data\.total: Field required$"):
        contracts.parse("order.placed", 1, data)


@pytest.fixture
def fraud_calls(monkeypatch: pytest.MonkeyPatch) -> list[uuid.UUID]:
    """Records every order fraud's handler gets as far as assessing."""
    calls: list[uuid.UUID] = []
    real = fraud_services.assess_order

    def spy(order_id: uuid.UUID, **kwargs: Any) -> RiskAssessment:
        calls.append(order_id)
        return real(order_id, **kwargs)

    monkeypatch.setattr(fraud_services, "assess_order", spy)
    return calls


def _wire(*, type: str = "order.placed", version: int = 1, drop: str | None = None) -> dict[str, Any]:
    wire = v1_placed(str(uuid.uuid4())).to_wire()
    wire.update(type=type, version=version)
    if drop:
        del wire["data"][drop]
    return wire


DEAD_ON_ARRIVAL = {
    "unknown type": (
        {"type": "order.exploded"},
        "no contract is registered for message type 'order.exploded'",
    ),
    "unsupported version": ({"version": 4}, "'order.placed' has no version 4 (known: v1, v2, v3)"),
    "invalid v1 data": ({"drop": "total"}, "order.placed v1: data.total: Field required"),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("changes", "reason"), DEAD_ON_ARRIVAL.values(), ids=DEAD_ON_ARRIVAL.keys())
def test_messages_no_contract_accepts_are_dead_lettered_before_any_handler(
    catalog: None, recorded: RecordingTransport, fraud_calls: list[uuid.UUID], changes: dict[str, Any], reason: str
) -> None:
    wire = _wire(**changes)
    result = deliver_event("fraud", wire, queue="fraud.events")

    assert result.status == MessageLog.Status.DEAD_LETTERED
    assert result.error == reason
    letter = DeadLetter.objects.get()
    assert (letter.consumer, letter.source, letter.reason) == ("fraud", "fraud.events", reason)
    assert (letter.message_id, letter.message_type) == (wire["id"], wire["type"])
    assert fraud_calls == []
    assert not RiskAssessment.objects.exists()
    assert not InboxEntry.objects.exists()
    assert recorded.delivered == []


# --- the registry: one schema per version -----------------------------------------------------


def test_every_registered_message_has_one_pydantic_schema_per_version() -> None:
    by_name: dict[str, dict[int, contracts.Contract]] = defaultdict(dict)
    for contract in contracts.all_contracts():
        assert contract.version not in by_name[contract.name], f"{contract.name} v{contract.version} twice"
        by_name[contract.name][contract.version] = contract

    assert "order.placed" in by_name and set(by_name["order.placed"]) == {1, 2, 3}
    for name, versions in by_name.items():
        assert sorted(versions) == list(range(1, len(versions) + 1)), f"{name}: versions must be 1..n"
        assert len({c.kind for c in versions.values()}) == 1, f"{name}: one kind across versions"
        schemas = [c.schema for c in versions.values()]
        assert all(issubclass(s, BaseModel) for s in schemas), name
        assert len(set(schemas)) == len(schemas), f"{name}: each version has its own schema class"
        for contract in versions.values():
            assert contracts.resolve(name, contract.version) is contract
            contract.schema.model_json_schema()  # every schema can be published (export_event_schemas)
        assert contracts.resolve(name).version == max(versions)


def test_every_old_event_version_can_be_upcast_to_the_newest() -> None:
    events = [c for c in contracts.all_contracts() if c.kind is Kind.EVENT]
    old = [c for c in events if c.version < contracts.resolve(c.name).version]
    assert {("order.placed", 1), ("order.placed", 2)} <= {(c.name, c.version) for c in old}
    for contract in old:
        assert contracts.has_upcaster(contract.name, contract.version), f"{contract.name} v{contract.version}"


# --- the published schemas (manage.py export_event_schemas) -----------------------------------

COMMITTED = Path(settings.BASE_DIR) / "docs" / "events"


def _export(output: Path, *options: str) -> str:
    out = io.StringIO()
    call_command("export_event_schemas", "--output", str(output), *options, stdout=out)
    return out.getvalue()


def _files(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.iterdir()) if p.is_file()}


def test_exported_schemas_match_the_committed_ones(tmp_path: Path) -> None:
    """Fails when a contract changed and docs/events was not regenerated: run
    ``python manage.py export_event_schemas`` and commit the result."""
    _export(tmp_path)
    exported = _files(tmp_path)
    assert set(exported) == set(_files(COMMITTED)), "run manage.py export_event_schemas"
    for name, text in exported.items():
        assert (COMMITTED / name).read_text(encoding="utf-8") == text, f"docs/events/{name} is stale"


def test_one_json_schema_per_message_name_and_version(tmp_path: Path) -> None:
    _export(tmp_path)
    exported = _files(tmp_path)
    expected = {f"{c.name}.v{c.version}.json" for c in contracts.all_contracts()}
    assert set(exported) == expected | {"README.md"}
    for contract in contracts.all_contracts():
        text = exported[f"{contract.name}.v{contract.version}.json"]
        assert text.endswith("}\n") and not text.endswith("\n\n")
        schema = json.loads(text)
        assert schema == {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            **contract.schema.model_json_schema(),
        }
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    v1 = json.loads(exported["order.placed.v1.json"])
    v2 = json.loads(exported["order.placed.v2.json"])
    v3 = json.loads(exported["order.placed.v3.json"])
    assert "total" in v1["properties"] and "currency" not in v1["properties"]
    assert {"amount", "currency"} <= set(v2["properties"]) and "total" not in v2["properties"]
    assert v2["properties"]["currency"]["enum"] == ["EUR", "USD", "GBP"]
    assert "card_last4" in v3["required"] and "payment_token" not in v3["properties"]
    assert v3["properties"]["card_last4"]["maxLength"] == 4


def test_the_index_lists_every_message_with_its_description_and_upcasters(tmp_path: Path) -> None:
    _export(tmp_path)
    index = (tmp_path / "README.md").read_text(encoding="utf-8")
    rows = [line for line in index.splitlines() if line.startswith("| `")]
    assert len(rows) == len(contracts.all_contracts())
    assert (
        "| `order.placed` | event | 1 | [order.placed.v1.json](order.placed.v1.json) | The lesson's ``order.placed``: "
        "orderId, userId, items, total, placedAt. Superseded by v2. | yes, to v2 |"
    ) in rows
    assert (
        "| `order.placed` | event | 2 | [order.placed.v2.json](order.placed.v2.json) "
        "| v2: an explicit amount and currency instead of a bare total. Superseded by v3. | yes, to v3 |"
    ) in rows
    assert (
        "| `order.placed` | event | 3 | [order.placed.v3.json](order.placed.v3.json) "
        "| v3: the card's last four characters instead of its token (contracts/cards.py). | newest |"
    ) in rows
    assert any(row.startswith("| `inventory.reserve` | command | 1 |") for row in rows)
    assert index.index("## Events") < index.index("`order.placed` | event") < index.index("## Commands")


def test_re_exporting_changes_nothing_and_stale_files_are_found(tmp_path: Path) -> None:
    _export(tmp_path)
    before = _files(tmp_path)
    assert "0 written" in _export(tmp_path) and _files(tmp_path) == before
    assert "all up to date" in _export(tmp_path, "--check")

    (tmp_path / "order.placed.v2.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "order.retired.v1.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("mine\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"out of date \(order\.placed\.v2\.json, order\.retired\.v1\.json\)"):
        _export(tmp_path, "--check")
    output = _export(tmp_path)
    assert "removed" in output and "order.retired.v1.json" in output
    assert _files(tmp_path) == {**before, "notes.txt": "mine\n"}  # files it does not own are left alone
