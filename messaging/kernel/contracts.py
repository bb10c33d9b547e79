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

from messaging.kernel.errors import InvalidMessage, MessageKindError, UnknownMessageType, UnsupportedVersion
from messaging.kernel.names import Kind, check_name

S = TypeVar("S", bound=type[BaseModel])


@dataclass(frozen=True)
class Contract:
    name: str
    kind: Kind
    version: int
    schema: type[BaseModel]
    #: A reply or a timer a service addresses to itself: routed to ``<service>.replies``
    #: (messaging/kernel/routing.py).
    reply: bool = False


_contracts: dict[str, dict[int, Contract]] = {}
#: (name, from_version) -> function turning that version's data into the next version's.
_upcasters: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
U = TypeVar("U", bound=Upcaster)


def register(name: str, kind: Kind, schema: type[BaseModel], version: int = 1, *, reply: bool = False) -> Contract:
    check_name(name, kind)
    versions = _contracts.setdefault(name, {})
    other = next(iter(versions.values()), None)
    if other is not None and other.kind is not kind:
        article = "an" if other.kind is Kind.EVENT else "a"
        raise MessageKindError(f"{name!r} is already registered as {article} {other.kind.value}")
    existing = versions.get(version)
    if existing is not None and existing.schema is not schema:
        raise MessageKindError(f"{name!r} v{version} is already registered with {existing.schema.__name__}")
    contract = versions[version] = Contract(name, kind, version, schema, reply)
    return contract


def command(name: str, *, reply: bool = False) -> Callable[[S], S]:
    """Register ``schema`` as command ``name``; ``reply=True`` for a reply or a timer to the
    service its name starts with (routed to ``<service>.replies``, not to a queue of its own)."""

    def decorate(schema: S) -> S:
        register(name, Kind.COMMAND, schema, reply=reply)
        return schema

    return decorate


def event(name: str, version: int = 1) -> Callable[[S], S]:
    def decorate(schema: S) -> S:
        register(name, Kind.EVENT, schema, version)
        return schema

    return decorate


def upcaster(name: str, from_version: int) -> Callable[[U], U]:
    """Register how ``name`` v``from_version`` data becomes v``from_version + 1`` data."""

    def decorate(fn: U) -> U:
        _upcasters[(name, from_version)] = fn
        return fn

    return decorate


def has_upcaster(name: str, from_version: int) -> bool:
    return (name, from_version) in _upcasters


def upcast(name: str, version: int, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Bring old data up to the newest version, one registered step at a time.

    Events are immutable, so old versions stay in the store as written; readers and consumers
    only ever see the newest shape.
    """
    latest = resolve(name).version
    resolve(name, version)  # unknown type or version: a clear error, not a half-parsed payload
    while version < latest:
        step = _upcasters.get((name, version))
        if step is None:
            raise UnsupportedVersion(f"{name!r} v{version} cannot be upcast: no upcaster to v{version + 1}")
        data = step(data)
        version += 1
    return version, data


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
    """Validate ``data`` as the version it claims, then upcast it to the newest version.

    InvalidMessage names the failing field; the handler only ever sees the newest shape.
    """
    validated = _validate(resolve(name, version), data)
    if version == resolve(name).version:
        return validated
    version, data = upcast(name, version, validated.model_dump(mode="json"))
    return _validate(resolve(name, version), data)


def _validate(contract: Contract, data: dict[str, Any]) -> BaseModel:
    try:
        return contract.schema.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        raise InvalidMessage(f"{contract.name} v{contract.version}: data.{where}: {err['msg']}") from exc


def latest(name: str) -> Contract | None:
    """The newest contract for ``name``, or None if there is none."""
    versions = _contracts.get(name)
    return versions[max(versions)] if versions else None


def names(kind: Kind) -> list[str]:
    """Every registered name of that kind, sorted."""
    return sorted(name for name, versions in _contracts.items() if next(iter(versions.values())).kind is kind)


def all_contracts() -> list[Contract]:
    return [c for versions in _contracts.values() for c in versions.values()]
