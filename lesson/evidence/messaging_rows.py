"""Table 1 of the lesson, command-based vs event-based messaging: one function per row.

Each row states what it measured in the source (``Facts``: the syntax trees) and in this
database (the mode's message log), and checks the lesson's claim against both.
"""

from __future__ import annotations

from lesson.evidence import traffic
from lesson.evidence.coupling import FLOW_MODULES, PRODUCER, bus_calls, return_addresses
from lesson.evidence.facts import COMMAND, EVENT, Facts, Verdict, cell, listed, plural, row
from lesson.evidence.model import Cell, SourceRef, TableRow
from lesson.evidence.naming import rule_problem
from lesson.evidence.selectors import dead_letters, failed_commands
from lesson.evidence.sources import find_function, find_line
from messaging.kernel.names import Kind

COMMANDING, EVENTING = (path for path, _ in sorted(FLOW_MODULES.items()))
CONSUMING = "messaging/kernel/consuming.py"


def _short(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def message_meaning(f: Facts) -> TableRow:
    v = Verdict()
    calls = {mode: [method for method, _ in bus_calls(path, f.root)] for path, mode in FLOW_MODULES.items()}
    v.check("commanding.py only sends commands", calls[COMMAND].count("send") > 0 and "publish" not in calls[COMMAND])
    v.check("eventing.py only publishes events", calls[EVENT].count("publish") > 0 and "send" not in calls[EVENT])
    cells: dict[str, Cell] = {}
    for mode, path, kind, route in (
        (COMMAND, COMMANDING, "command", "queue "),
        (EVENT, EVENTING, "event", "exchange "),
    ):
        sent = traffic.producer_messages(f.logs[mode])
        runtime = None
        if sent:
            ok = all(m.kind == kind and m.route.startswith(route) for m in sent)
            v.check(f"every message orders sent in {mode} mode was a{'n' * (kind == 'event')} {kind} to a {route}", ok)
            runtime = f"{len(sent)} {kind}s sent, via {listed(traffic.routes(sent), 3)}"
        verb = "tells a named service" if mode == COMMAND else "states a fact"
        static = f'"{"Do this" if mode == COMMAND else "This happened"}": {_short(path)} {verb} '
        static += f"({calls[mode].count('send')} send, {calls[mode].count('publish')} publish calls)"
        cells[mode] = cell(
            f.logs[mode],
            static,
            runtime,
            measured=f"AST of {path}: bus calls; message log: kind and route of what orders sent in {mode} mode",
            sources=[ref for _, ref in bus_calls(path, f.root)],
            verdict=v,
        )
    return row(1, "message-meaning", "Message meaning", ('"Do this thing"', '"This thing happened"'), cells, v)


def producer_knows_consumers(f: Facts) -> TableRow:
    v = Verdict()
    named = {mode: f.named(mode) for mode in (COMMAND, EVENT)}
    v.check("command mode's producer names its consumers", bool(named[COMMAND]))
    v.check("event mode's producer names no consumer", not named[EVENT])
    owner = {name: c.service for c in f.consumers.values() for name in c.commands}
    cells: dict[str, Cell] = {}
    for mode in (COMMAND, EVENT):
        handled = {name: who for name, who in traffic.handlers_by_name(f.logs[mode]).items() if who}
        runtime = None
        if handled:
            reached = set().union(*handled.values())
            if mode == COMMAND:
                v.check(
                    "each command reached the one service orders named",
                    all(who == {owner.get(name)} for name, who in handled.items()),
                )
                runtime = f"each of {plural(len(handled), 'command name')} reached only the service it names"
            else:
                v.check("no service that handled orders' events is named by orders", not reached & set(named[EVENT]))
                runtime = f"{len(reached)} services handled its events ({listed(reached)}), none named by orders"
        static = (
            f"Yes: names {len(named[mode])} consumers ({listed(named[mode])})"
            if named[mode]
            else "No: names no consumer"
        )
        cells[mode] = cell(
            f.logs[mode],
            static,
            runtime,
            measured=f"AST of every orders module run in {mode} mode: imports of consumer apps, their command and "
            "queue names; message log: who handled what orders sent",
            sources=[r.ref for r in f.refs[mode]]
            or [_module_start(f, EVENTING, "names no consumer: no import, no name")],
            verdict=v,
        )
    return row(1, "producer-knows-consumers", "Producer knows about consumers?", ("Yes", "No"), cells, v)


def adding_consumers(f: Facts) -> TableRow:
    v = Verdict()
    command_consumers = sorted({h.service for h in f.handlers if h.app != PRODUCER})
    lines = {s: f.producer_lines(s, COMMAND) for s in command_consumers}
    v.check("every command consumer has lines of its own in the producer", all(lines.values()))
    subscribers = f.consumer_subscribers()
    own = [s for s in subscribers if s.ready is not None and not f.producer_lines(s.service, EVENT)]
    v.check("every subscriber registers from its own app, with no line in orders", len(own) == len(subscribers))
    cells: dict[str, Cell] = {}
    reached = {mode: traffic.reached_services(f.logs[mode]) for mode in (COMMAND, EVENT)}
    runtime_cmd = None
    if reached[COMMAND]:
        v.check(
            "every service orders' commands reached is written into orders",
            all(f.producer_lines(s, COMMAND) for s in reached[COMMAND]),
        )
        runtime_cmd = f"{len(reached[COMMAND])} services handled its commands, each written into orders"
    spans = sum(len(refs) for refs in lines.values())
    cells[COMMAND] = cell(
        f.logs[COMMAND],
        f"Change producer code: {spans} producer spans for {len(lines)} consumers "
        f"(fraud: {', '.join(r.location for r in lines.get('fraud', [])) or 'none'})",
        runtime_cmd,
        measured="AST: the statements of orders that name each consumer, plus the reply handlers only its "
        "commands ask for; message log: services reached",
        sources=[r for refs in lines.values() for r in refs],
        verdict=v,
    )
    runtime_evt = None
    subscribers_seen = [s for s in reached[EVENT] if s != PRODUCER]
    if subscribers_seen:
        v.check(
            "no service that handled orders' events has a line in orders",
            not any(f.producer_lines(s, EVENT) for s in subscribers_seen),
        )
        runtime_evt = f"{len(subscribers_seen)} subscribers handled its events; orders lines for them: 0"
    installed = find_line(f.root, "shop/settings.py", '"fraud"', "event mode: this line is all fraud detection needs")
    cells[EVENT] = cell(
        f.logs[EVENT],
        f"Just subscribe: {len(own)} of {len(subscribers)} subscribers register in their own apps.py, "
        "0 lines in orders",
        runtime_evt,
        measured="AST: Subscriber(...) and the AppConfig.ready() that loads it, per app; orders' lines per "
        "subscriber; message log: who handled orders' events",
        sources=[installed, *(r for s in subscribers for r in (s.ready, s.ref))],
        verdict=v,
    )
    return row(1, "adding-consumers", "Adding new consumers", ("Change producer code", "Just subscribe"), cells, v)


def coupling(f: Facts) -> TableRow:
    v = Verdict()
    v.check("command mode's producer depends on its consumers by name", bool(f.refs[COMMAND]))
    v.check("event mode's producer depends on no consumer", not f.refs[EVENT])
    imported = sorted({e.target_app for e in f.graph if e.source_app == PRODUCER})
    cells: dict[str, Cell] = {}
    for mode in (COMMAND, EVENT):
        refs = f.refs[mode]
        imports = sorted({r.service for r in refs if r.kind == "import"})
        names = sorted({r.service for r in refs if r.kind != "import"})
        static = (
            f"Coupled: {len(refs)} references to {len(set(imports) | set(names))} consumers "
            f"(by name: {listed(names) or 'none'}; by import: {listed(imports) or 'none'})"
            if refs
            else f"Decoupled: 0 references to consumers; orders imports only {listed(imported)}"
        )
        log = f.logs[mode]
        replies = traffic.replies_to_producer(log)
        runtime = None
        if traffic.producer_messages(log):
            if mode == COMMAND:
                runtime = f"{len(replies)} replies came back to the return addresses orders gave"
                if traffic.reached_services(log):
                    v.check("in command mode the outcome comes back to the producer", bool(replies))
            else:
                runtime = f"{len(replies)} replies: nothing came back addressed to orders"
                v.check("in event mode nothing is addressed back to the producer", not replies)
        flow = COMMANDING if mode == COMMAND else EVENTING
        flow_imports = [e.ref for e in f.graph if e.ref.path == flow]
        cells[mode] = cell(
            log,
            static,
            runtime,
            measured="import graph of every app and the consumer names in orders' modules (AST); message log: "
            "replies orders handled",
            sources=[r.ref for r in refs] or flow_imports,
            verdict=v,
        )
    lesson = ("Producer coupled to consumers", "Decoupled")
    return row(1, "coupling", "Coupling", lesson, cells, v)


def message_naming(f: Facts) -> TableRow:
    v = Verdict()
    cells: dict[str, Cell] = {}
    for mode, kind in ((COMMAND, Kind.COMMAND), (EVENT, Kind.EVENT)):
        names = f.names[mode]
        bad = [n.name for n in names if not n.follows_rule]
        v.check(f"every {kind.value} name in {mode} mode follows the rule", bool(names) and not bad)
        words = sorted({n.word for n in names})
        static = f"{'Verbs' if kind is Kind.COMMAND else 'Past tense'}: {listed(words, 8)}"
        static += f" ({len(names) - len(bad)} of {len(names)} names pass the rule)"
        sent = traffic.producer_messages(f.logs[mode])
        runtime = None
        if sent:
            problems = {m.name for m in sent if rule_problem(m.name, Kind(m.kind))}
            v.check(f"every name orders sent in {mode} mode follows the rule", not problems)
            runtime = f"sent {len({m.name for m in sent})} distinct names, {len(problems)} break the rule"
        cells[mode] = cell(
            f.logs[mode],
            static,
            runtime,
            measured="contracts (AST of @command/@event) checked with messaging.kernel.names.check_name; "
            "message log: the names orders sent",
            sources=[r for n in names for r in (*n.defined[:1], *n.used[:1])],
            verdict=v,
        )
    lesson = ("Verb (reserve, send, process)", "Past tense (placed, shipped, failed)")
    return row(1, "message-naming", "Message naming", lesson, cells, v)


def failure_responsibility(f: Facts) -> TableRow:
    v = Verdict()
    addresses = {mode: return_addresses(path, f.root) for path, mode in FLOW_MODULES.items()}
    sends = [r for r in f.refs[COMMAND] if r.kind == "command"]
    v.check("every command orders sends names where its failure goes back", all(r.on_failure for r in sends))
    v.check("eventing.py gives no return address", not addresses[EVENT])
    cells: dict[str, Cell] = {}
    log = f.logs[COMMAND]
    failed = traffic.failures(log)
    runtime = None
    if failed:
        v.check("every failed command came back to the producer", all(x.producer_heard for x in failed))
        heard = sum(x.producer_heard for x in failed)
        noted = failed_commands(log.order_ids)
        runtime = f"{plural(len(failed), 'command')} failed, {heard} came back to orders as a reply"
        runtime += f" ({noted} noted as FailedCommand)" if noted else ""
    deliver_command = find_function(f.root, CONSUMING, "deliver_command", "a failed command goes back to its sender")
    cells[COMMAND] = cell(
        log,
        f"Producer: {sum(bool(r.on_failure) for r in sends)} of {len(sends)} commands carry on_failure",
        runtime,
        measured="AST: return addresses (on_failure=) in commanding.py; message log: failed commands and the "
        "replies orders handled for them",
        sources=[*(ref for keyword, _, ref in addresses[COMMAND] if keyword == "on_failure"), deliver_command],
        verdict=v,
        todo="not measured yet: no command has failed yet (order more than the stock holds, or inject a "
        "consumer failure: walkthrough chapter 3)",
    )
    log = f.logs[EVENT]
    failed = traffic.failures(log)
    runtime = None
    if failed:
        kept = dead_letters([x.message_id for x in failed])
        v.check("orders heard of no consumer's failure", not any(x.producer_heard for x in failed))
        v.check("each failing consumer kept its own dead letter", all(kept.get(x.consumer) for x in failed))
        who = listed({x.consumer for x in failed})
        runtime = f"{plural(len(failed), 'delivery', 'deliveries')} failed ({who}), each dead-lettered "
        runtime += f"by that consumer; orders heard of {sum(x.producer_heard for x in failed)}"
    deliver_event = find_function(f.root, CONSUMING, "deliver_event", "a failed event is dead-lettered by its consumer")
    todo = "not measured yet: inject a consumer failure in event mode (walkthrough chapter 3)"
    cells[EVENT] = cell(
        log,
        f"Each consumer: eventing.py gives {len(addresses[EVENT])} return addresses",
        runtime,
        measured="AST: return addresses in eventing.py; message log and dead letters: who failed, who kept it, "
        "whether anything reached orders",
        sources=[deliver_event],
        verdict=v,
        todo=todo,
    )
    lesson = ("Producer must handle routing failures", "Each consumer handles its own failures")
    return row(1, "failure-responsibility", "Failure responsibility", lesson, cells, v)


TABLE_1 = (
    message_meaning,
    producer_knows_consumers,
    adding_consumers,
    coupling,
    message_naming,
    failure_responsibility,
)


def _module_start(f: Facts, path: str, why: str) -> SourceRef | None:
    return find_line(f.root, path, "from __future__", why)
