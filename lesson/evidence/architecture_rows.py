"""Table 2 of the lesson, queue-based vs event-driven architecture: one function per row.

Like table 1, each row reads the source (``Facts``) and this database, and checks the claim.
"""

from __future__ import annotations

import ast
from collections import Counter

from lesson.evidence import declarations, traffic
from lesson.evidence.coupling import FLOW_MODULES, PRODUCER
from lesson.evidence.facts import COMMAND, EVENT, PROJECTOR, Facts, Verdict, cell, listed, plural, row
from lesson.evidence.model import Cell, TableRow
from lesson.evidence.selectors import stream_lengths, summarized
from lesson.evidence.sources import find_assignment, find_function, find_line, parsed
from messaging.kernel.names import Kind

COMMANDING, EVENTING = sorted(FLOW_MODULES)


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f} ms"


def architecture(f: Facts) -> TableRow:
    v = Verdict()
    per_command = Counter(h.name for h in f.handlers)
    v.check("every command has exactly one handler", bool(per_command) and set(per_command.values()) == {1})
    per_event = Counter(event for s in f.subscribers for event in s.events)
    v.check("some event has several subscribers", any(n > 1 for n in per_event.values()))
    cells: dict[str, Cell] = {}
    fanout = traffic.fanout(f.logs[COMMAND])
    runtime = None
    if fanout:
        v.check("every command orders sent was handled by one service", max(fanout) == 1)
        runtime = f"{len(fanout)} commands, each handled by exactly {max(fanout)} service"
    cells[COMMAND] = cell(
        f.logs[COMMAND],
        f"Point-to-point: {len(per_command)} commands, each with one handler and its own queue",
        runtime,
        measured="AST: @command_handler per command; the routing rule; message log: services per command",
        sources=[find_line(f.root, "messaging/kernel/routing.py", "def queue_for", "a command's queue is its name")],
        verdict=v,
    )
    fanout = traffic.fanout(f.logs[EVENT])
    runtime = None
    if fanout:
        v.check("orders' events were broadcast to several subscribers", max(fanout) > 1)
        average = sum(fanout) / len(fanout)
        runtime = f"{len(fanout)} events via exchange events, {average:.1f} subscribers each (up to {max(fanout)})"
    shared = sorted(event for event, count in per_event.items() if count > 1)
    cells[EVENT] = cell(
        f.logs[EVENT],
        f"Publish/subscribe: one exchange, {len(f.subscribers)} service queues; "
        f"{plural(len(shared), 'event')} with several subscribers ({listed(shared, 3)})",
        runtime,
        measured="AST: Subscriber(...).on(...) per app; the events exchange; message log: services per event",
        sources=[
            find_function(
                f.root, "messaging/celery_adapter/topology.py", "events_exchange", "the one exchange events go to"
            ),
            find_function(
                f.root, "messaging/celery_adapter/topology.py", "service_queue", "each subscriber's own queue"
            ),
            *(s.ref for s in f.subscribers),
        ],
        verdict=v,
    )
    lesson = ("Point-to-point task distribution", "Publish/subscribe event broadcasting")
    return row(2, "architecture", "Architecture", lesson, cells, v)


def data_model(f: Facts) -> TableRow:
    v = Verdict()
    appends = {mode: _store_appends(f, path) for path, mode in FLOW_MODULES.items()}
    v.check("command mode's flow appends nothing to the event store", not appends[COMMAND])
    v.check("event mode's flow appends every event it publishes to the store", bool(appends[EVENT]))
    cells: dict[str, Cell] = {}
    log = f.logs[COMMAND]
    runtime = None
    if log.measured:
        stored = sum(stream_lengths(log.order_ids).values())
        v.check("command-mode orders keep no events", stored == 0)
        runtime = f"{len(log.order_ids)} orders, {stored} events stored: the row is all there is"
    cells[COMMAND] = cell(
        log,
        "Current state: the order row, overwritten in place",
        runtime,
        measured="event store rows for the mode's recent orders",
        sources=[find_function(f.root, "orders/rows.py", "apply_event", "overwrites the row with the new state")],
        verdict=v,
    )
    log = f.logs[EVENT]
    runtime = None
    if log.measured:
        streams = stream_lengths(log.order_ids)
        check = f.replays()
        views = summarized(log.order_ids)
        v.check("every event-mode order has a stream", all(streams.values()))
        v.check("replaying each stream reproduces its order row", check.orders > 0 and not check.drifted)
        v.check("a derived view (the read model) is built from the events", views > 0)
        runtime = (
            f"{sum(streams.values())} events for {len(streams)} orders, replay equals every row "
            f"({len(check.drifted)} drifted); {views} read-model rows derived"
        )
    cells[EVENT] = cell(
        log,
        "Event log + derived views: each change appended; the row and the read model derive from it",
        runtime,
        measured="event store streams, replay of each compared with the row (orders.replay.drift), read-model rows",
        sources=[
            find_function(f.root, EVENTING, "_record", "publishes the event and appends it to the order's stream"),
            find_function(f.root, "core/eventstore/store.py", "append", "append only, optimistic concurrency"),
            find_function(f.root, "readmodel/services.py", "catch_up_stream", "the read model, derived from the store"),
        ],
        verdict=v,
    )
    lesson = ("Current state in database", "Event log + derived views")
    return row(2, "data-model", "Data model", lesson, cells, v)


def _store_appends(f: Facts, path: str) -> list[str]:
    """``store.append(...)`` calls in a flow module (the event store's only way in)."""
    file = f.root / path
    if not file.is_file():
        return []
    return [
        ast.unparse(call.func)
        for call in parsed(file).calls
        if isinstance(call.func, ast.Attribute)
        and call.func.attr == "append"
        and ast.unparse(call.func.value) == "store"
    ]


def adding_features(f: Facts) -> TableRow:
    v = Verdict()
    consumers = sorted({h.service for h in f.handlers if h.app != PRODUCER})
    both_sides = {s: (f.producer_lines(s, COMMAND), [h.ref for h in f.handlers if h.service == s]) for s in consumers}
    v.check(
        "each command-mode feature is code in the producer and in the consumer",
        all(producer and consumer for producer, consumer in both_sides.values()),
    )
    subscribers = f.consumer_subscribers()
    v.check(
        "each event-mode feature is code in its own app only",
        not any(f.producer_lines(s.service, EVENT) for s in subscribers),
    )
    only_events = sorted(s.service for s in subscribers if s.service not in consumers)
    cells: dict[str, Cell] = {}
    reached = traffic.reached_services(f.logs[COMMAND])
    runtime = None
    if reached:
        v.check(
            "every service orders' commands reached is written on both sides",
            all(s in both_sides and all(both_sides[s]) for s in reached),
        )
        runtime = f"{len(reached)} features ran, each a send in orders and a task in its app"
    cells[COMMAND] = cell(
        f.logs[COMMAND],
        f"Modify producer and consumer: {len(consumers)} features, each in orders and in its app",
        runtime,
        measured="AST: orders' statements per consumer and the consumer's @command_handler; message log",
        sources=[r for producer, consumer in both_sides.values() for r in (*producer[:1], *consumer)],
        verdict=v,
    )
    reached = [s for s in traffic.reached_services(f.logs[EVENT]) if s != PRODUCER]
    runtime = None
    if reached:
        v.check(
            "no service orders' events reached needed a line in orders",
            not any(f.producer_lines(s, EVENT) for s in reached),
        )
        runtime = f"{len(reached)} features ran off its events ({listed(reached)}), 0 lines in orders"
    cells[EVENT] = cell(
        f.logs[EVENT],
        f"Add new subscriber: {len(subscribers)} features, 0 lines in orders; "
        f"only event mode has {listed(only_events) or 'none'}",
        runtime,
        measured="AST: Subscriber(...) and AppConfig.ready() per app, orders' lines per subscriber; message log",
        sources=[r for s in subscribers for r in (s.ref, s.ready)],
        verdict=v,
    )
    return row(
        2, "adding-features", "Adding features", ("Modify producer and consumer", "Add new subscriber"), cells, v
    )


def debugging(f: Facts) -> TableRow:
    v = Verdict()
    cells: dict[str, Cell] = {}
    log = f.logs[COMMAND]
    runtime = None
    messages = log.sent(None)
    if messages:
        broken = traffic.broken_chains(log)
        stored = sum(stream_lengths(log.order_ids).values())
        v.check("the request chain of command-mode orders can be traced", not broken)
        v.check("command-mode orders keep no history to replay", stored == 0)
        runtime = f"traced {len(messages)} messages by correlation and causation, {len(broken)} broken links; "
        runtime += f"{stored} past states kept"
    cells[COMMAND] = cell(
        log,
        "Trace the request chain: correlation_id and causation_id on every message",
        runtime,
        measured="message log: causation links within each order; event store rows for command-mode orders",
        sources=[
            find_function(
                f.root, "messaging/kernel/log.py", "sent", "every message logged with its correlation and cause"
            ),
            find_function(f.root, "orders/replay.py", "_require_history", "command mode: no history to replay"),
        ],
        verdict=v,
    )
    log = f.logs[EVENT]
    runtime = None
    if log.measured:
        check = f.replays()
        v.check("replaying events reproduces each order's state", check.orders > 0 and not check.drifted)
        runtime = f"replayed {check.orders} streams: every row reproduced, {check.past_states} past states reachable"
    cells[EVENT] = cell(
        log,
        "Replay events to reproduce state: any prefix of a stream is a past state",
        runtime,
        measured="each event-mode order's stream folded by lifecycle.replay and compared with its row",
        sources=[
            find_function(f.root, "orders/lifecycle.py", "replay", "the lesson's getCurrentState"),
            find_function(f.root, "orders/replay.py", "state_of", "time travel: the state after version N"),
        ],
        verdict=v,
    )
    lesson = ("Trace the request chain", "Replay events to reproduce state")
    return row(2, "debugging", "Debugging", lesson, cells, v)


def complexity(f: Facts) -> TableRow:
    v = Verdict()
    command_files = sorted({r.ref.path for r in f.refs[COMMAND]})
    event_files = sorted({s.ref.path for s in f.subscribers})
    versioned = sorted({c.name for c in f.contracts if c.kind is Kind.EVENT and c.version > 1})
    upcasters = declarations.upcasters(f.root)
    v.check("command mode's flow is read in fewer places", 0 < len(command_files) < len(event_files))
    v.check("event mode keeps versioned event schemas", bool(versioned and upcasters))
    cells: dict[str, Cell] = {}
    log = f.logs[COMMAND]
    runtime = None
    if log.measured:
        views = summarized(log.order_ids)
        v.check("command mode has no derived view to lag", views == 0)
        runtime = f"{views} derived views: a read is the row, never stale"
    command_versions = sorted({c.name for c in f.contracts if c.kind is Kind.COMMAND and c.version > 1})
    cells[COMMAND] = cell(
        log,
        f"Lower: the whole flow is named in {len(command_files)} file ({listed(command_files)}); "
        f"{len(command_versions)} versioned command schemas",
        runtime,
        measured="AST: files naming consumers; contract versions; read-model rows for command-mode orders",
        sources=[r.ref for r in f.refs[COMMAND]][:1],
        verdict=v,
    )
    log = f.logs[EVENT]
    delays = traffic.projector_delays_ms(log, PROJECTOR)
    runtime = None
    if delays:
        v.check("the read model trailed the writes (eventual consistency)", max(delays) > 0)
        runtime = f"read model behind by {_ms(traffic.median(delays))} median, {_ms(max(delays))} max"
    cells[EVENT] = cell(
        log,
        f"Higher: subscriptions in {len(event_files)} files; {len(versioned)} event with versions "
        f"({listed(versioned)}), {len(upcasters)} upcaster",
        runtime,
        measured="AST: Subscriber files, @event versions, @upcaster; message log: time from each event to "
        "the projector",
        sources=[*upcasters, find_function(f.root, "readmodel/selectors.py", "lag", "how far the read model trails")],
        verdict=v,
        todo="not measured yet: no event-mode order reached the read model yet",
    )
    lesson = ("Lower (simpler mental model)", "Higher (eventual consistency, event schemas)")
    return row(2, "complexity", "Complexity", lesson, cells, v)


def best_for(f: Facts) -> TableRow:
    v = Verdict()
    per_command = Counter(h.name for h in f.handlers)
    v.check("each command is a job for exactly one handler", bool(per_command) and set(per_command.values()) == {1})
    analytics = [s for s in f.subscribers if s.app == "analytics"]
    v.check("analytics feeds on the order's events", any(e.startswith("order.") for s in analytics for e in s.events))
    cells: dict[str, Cell] = {}
    log = f.logs[COMMAND]
    jobs = [r for r in log.rows if r.kind == "command" and r.status == "handled" and r.service != PRODUCER]
    runtime = None
    if jobs:
        v.check("every command ran as one job with one handler", max(traffic.fanout(log), default=1) == 1)
        runtime = (
            f"{len(jobs)} jobs, each run once by one worker (median {_ms(traffic.median(traffic.durations_ms(jobs)))})"
        )
    cells[COMMAND] = cell(
        log,
        f"Simple async tasks, job queues: {len(f.handlers)} tasks, one queue each",
        runtime,
        measured="message log: handled commands, their handlers and durations",
        sources=[h.ref for h in f.handlers if h.app != PRODUCER],
        verdict=v,
    )
    log = f.logs[EVENT]
    runtime = None
    if log.measured:
        streams = stream_lengths(log.order_ids)
        v.check("every event-mode order has an audit trail", all(streams.values()))
        reacting = [s for s in traffic.reached_services(log) if s != PRODUCER]
        if any(r.name == "order.confirmed" for r in traffic.producer_messages(log)):
            v.check("analytics is fed by the events", "analytics" in reacting)
        runtime = f"audit trail for {sum(1 for n in streams.values() if n)} of {len(streams)} orders; "
        runtime += f"{len(reacting)} services react to its events ({listed(reacting)})"
    cells[EVENT] = cell(
        log,
        "Complex domains, audit, analytics: an immutable history per order, many independent readers",
        runtime,
        measured="event store streams; message log: services reacting to orders' events",
        sources=[
            find_function(f.root, "core/models/eventstore.py", "EventRecord", "append-only rows"),
            find_assignment(f.root, "core/eventstore/triggers.py", "SQL", "the database refuses UPDATE and DELETE"),
            *(s.ref for s in analytics),
        ],
        verdict=v,
    )
    lesson = ("Simple async tasks, job queues", "Complex domains, audit requirements, analytics")
    return row(2, "best-for", "Best for", lesson, cells, v)


TABLE_2 = (architecture, data_model, adding_features, debugging, complexity, best_for)
