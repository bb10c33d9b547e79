"""The registry of message contracts: one pydantic schema per message name and version.

Every message that crosses the broker is validated against its contract on the way out (so a
bug fails in the sender) and on the way in (so a malformed message never reaches a handler
half-parsed). Registering a contract also enforces the naming rule and fixes the message's
kind, which is how the buses refuse an event sent as a command and vice versa.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shop.messaging.errors import InvalidMessage, MessageKindError, UnknownMessageType, UnsupportedVersion
from shop.messaging.names import Kind, check_name

S = TypeVar("S", bound=type[BaseModel])


@dataclass(frozen=True)
class Contract:
    name: str
    kind: Kind
    version: int
    schema: type[BaseModel]


_contracts: dict[str, dict[int, Contract]] = {}


def register(name: str, kind: Kind, schema: type[BaseModel], version: int = 1) -> Contract:
    check_name(name, kind)
    versions = _contracts.setdefault(name, {})
    other = next(iter(versions.values()), None)
    if other is not None and other.kind is not kind:
        article = "an" if other.kind is Kind.EVENT else "a"
        raise MessageKindError(f"{name!r} is already registered as {article} {other.kind.value}")
    existing = versions.get(version)
    if existing is not None and existing.schema is not schema:
        raise MessageKindError(f"{name!r} v{version} is already registered with {existing.schema.__name__}")
    contract = versions[version] = Contract(name, kind, version, schema)
    return contract


def command(name: str) -> Callable[[S], S]:
    def decorate(schema: S) -> S:
        register(name, Kind.COMMAND, schema)
        return schema

    return decorate


def event(name: str, version: int = 1) -> Callable[[S], S]:
    def decorate(schema: S) -> S:
        register(name, Kind.EVENT, schema, version)
        return schema

    return decorate


def resolve(name: str, version: int | None = None) -> Contract:
    """The contract for ``name`` at ``version`` (the newest when ``version`` is None)."""
    versions = _contracts.get(name)
    if not versions:
        raise UnknownMessageType(f"no contract is registered for message type {name!r}")
    if version is None:
        return versions[max(versions)]
    try:
        return versions[version]
    except KeyError:
        known = ", ".join(f"v{v}" for v in sorted(versions))
        raise UnsupportedVersion(f"{name!r} has no version {version} (known: {known})") from None


def require_kind(name: str, kind: Kind) -> Contract:
    contract = resolve(name)
    if contract.kind is kind:
        return contract
    if kind is Kind.COMMAND:
        raise MessageKindError(
            f"{name!r} is an event: it states a fact to whoever listens. Publish it with "
            f"bus.events.publish(); send() is for commands addressed to one consumer."
        )
    raise MessageKindError(
        f"{name!r} is a command: it tells one consumer what to do. Send it with "
        f"bus.commands.send(); publish() is for past-tense events."
    )


def parse(name: str, version: int, data: dict[str, Any]) -> BaseModel:
    """Validate ``data`` against the contract; InvalidMessage names the failing field."""
    contract = resolve(name, version)
    try:
        return contract.schema.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        raise InvalidMessage(f"{name} v{version}: data.{where}: {err['msg']}") from exc


def all_contracts() -> list[Contract]:
    return [c for versions in _contracts.values() for c in versions.values()]
