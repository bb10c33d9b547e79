"""The saga evidence (lesson/evidence/sagas.py): where each style writes the steps down, read from the
source and checked against what the running code registered, and the two loyalty patches, which
must apply to this tree and whose sizes are checked against git's own count."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lesson.evidence import sagas
from lesson.evidence.model import SourceRef
from lesson.evidence.sources import REPO_ROOT, apps
from lesson.evidence.tables import source_excerpt
from messaging.kernel.subscriptions import subscriptions_for
from orders.flows.commanding import FULFILMENT, LOCAL_STEPS

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")

FORWARD = {
    ("inventory", "reserve_for_order", "order.placed"),
    ("payments", "request_for_order", "order.placed"),
    ("payments", "authorize_when_reserved", "inventory.reserved"),
    ("orders", "confirm_when_paid", "payment.authorized"),
}
LINK_MODULES = ("inventory/handlers.py", "orders/handlers.py", "payments/handlers.py")


def text_of(ref: SourceRef, root: Path = REPO_ROOT) -> list[str]:
    return [line for _, line in source_excerpt(ref, root, context=0)]


# --- orchestration: one table ------------------------------------------------------------------


def test_the_plan_is_located_at_its_real_lines_and_matches_the_running_table() -> None:
    plan, local = sagas.where_written()["command"].refs
    assert plan.path == local.path == "orders/flows/commanding.py"
    lines = text_of(plan)
    assert lines[0].startswith("FULFILMENT = (") and lines[-1] == ")"
    assert text_of(local)[0].startswith("LOCAL_STEPS = (")
    # The rows read from the syntax tree are the rows the orchestrator walks.
    assert [(s.name, s.command, s.undo) for s in sagas.plan_steps()] == [
        (s.name, s.command, s.undo) for s in FULFILMENT
    ]
    assert LOCAL_STEPS[0] == sagas.CONFIRM  # the choreography ends where the plan's local steps begin


def test_only_one_module_holds_a_plan() -> None:
    tables = sagas.plan_modules()
    assert [t.path for t in tables] == ["orders/flows/commanding.py"]
    assert _lines(tables[0]) == _lines(sagas.where_written()["command"].refs[0])  # the same FULFILMENT lines
    assert sagas.where_written()["command"].modules == ("orders/flows/commanding.py",)


def _lines(ref: SourceRef) -> tuple[int, int]:
    return ref.line, ref.end_line


# --- choreography: one link per handler --------------------------------------------------------


def test_the_choreography_links_are_found_in_the_handlers_and_registered_at_run_time() -> None:
    written = sagas.where_written()["event"]
    assert {(link.service, link.handler, link.reacts_to) for link in written.links} == FORWARD
    assert written.modules == LINK_MODULES
    for link in written.links:
        head = text_of(link.head)
        assert f'.on("{link.reacts_to}"' in head[0] and f"def {link.handler}(" in head[-1], link
        registered = [s.handler.__name__ for s in subscriptions_for(link.service, link.reacts_to)]
        assert link.handler in registered, link  # the subscription table agrees with the syntax tree
        caused = "\n".join(line for ref in link.cause_refs for line in text_of(ref))
        for name in link.causes:
            assert (f'"{name}"' if name != sagas.CONFIRM else f"{name}(") in caused, (link, name)


def test_the_happy_path_is_a_chain_from_the_order_to_its_confirmation() -> None:
    links = {(link.reacts_to, cause) for link in sagas.forward_links() for cause in link.causes}
    assert ("order.placed", "inventory.reserved") in links
    assert ("inventory.reserved", "payment.authorized") in links
    assert ("payment.authorized", sagas.CONFIRM) in links
    # Handlers that lead nowhere near the confirmation are not links: fraud's flag, the undo.
    handlers = {link.handler for link in sagas.forward_links()}
    assert not handlers & {"check_fraud", "release_for_order", "void_for_order", "hold_when_flagged"}


def test_the_choreography_undo_is_spread_over_the_same_modules() -> None:
    undo = {(link.service, link.reacts_to) for link in sagas.undo_links()}
    assert undo == {
        ("inventory", "order.cancelled"),
        ("payments", "order.cancelled"),
        ("orders", "inventory.reservation_failed"),
        ("orders", "payment.declined"),
    }
    assert {link.module for link in sagas.undo_links()} <= set(LINK_MODULES)


# --- the loyalty patches -----------------------------------------------------------------------


@needs_git
@pytest.mark.parametrize("patch", sorted(sagas.PATCHES.values()))
def test_each_patch_applies_to_this_tree(patch: str) -> None:
    result = _git("apply", "--check", patch, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr


@needs_git
@pytest.mark.parametrize("mode", ["command", "event"])
def test_patch_sizes_equal_gits_own_count(mode: str) -> None:
    [cost] = [c for c in sagas.patch_costs() if c.mode == mode]
    numstat = _git("apply", "--numstat", cost.path, cwd=REPO_ROOT).stdout.splitlines()
    counted = {path: (int(added), int(removed)) for added, removed, path in (line.split("\t") for line in numstat)}
    assert {f.path: (f.added, f.removed) for f in cost.files} == counted
    assert cost.added == sum(a for a, _ in counted.values()) and cost.removed == sum(r for _, r in counted.values())
    assert {f.path for f in cost.files if f.new} == {p for p in counted if not (REPO_ROOT / p).exists()}


def test_which_existing_flow_modules_each_patch_touches() -> None:
    costs = {c.mode: c for c in sagas.patch_costs()}
    assert costs["command"].touched_flow_modules == ("orders/flows/commanding.py",)
    assert costs["event"].touched_flow_modules == ("orders/handlers.py",)
    # Measured, not assumed: each style changes exactly one module that already knew the flow.
    # Orchestration's patch is the larger (two commands to declare and route, against one event).
    assert costs["command"].added > costs["event"].added
    assert costs["command"].removed < costs["event"].removed


@needs_git
def test_after_the_patches_only_choreography_has_one_more_module_that_knows_the_order(tmp_path: Path) -> None:
    orchestrated = _patched_copy(tmp_path / "orchestrated", sagas.PATCHES["command"])
    after = sagas.where_written(orchestrated)
    assert after["command"].modules == ("orders/flows/commanding.py",)
    assert [s.command for s in sagas.plan_steps(orchestrated)][-1] == "loyalty.award"

    choreographed = _patched_copy(tmp_path / "choreographed", sagas.PATCHES["event"])
    after = sagas.where_written(choreographed)
    assert len(after["event"].modules) == len(LINK_MODULES) + 1
    assert "loyalty/handlers.py" in after["event"].modules
    links = {(link.service, link.reacts_to, link.causes) for link in after["event"].links}
    assert ("loyalty", "payment.authorized", ("loyalty.awarded",)) in links
    assert ("orders", "loyalty.awarded", (sagas.CONFIRM,)) in links


def _patched_copy(root: Path, patch: str) -> Path:
    for app in apps(REPO_ROOT):
        shutil.copytree(REPO_ROOT / app, root / app, ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copytree(REPO_ROOT / "docs", root / "docs")
    shutil.copy(REPO_ROOT / "Procfile", root / "Procfile")
    result = _git("apply", str(REPO_ROOT / patch), cwd=root)
    assert result.returncode == 0, result.stderr
    return root


def _git(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert GIT is not None
    return subprocess.run([GIT, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


# --- reading a diff ----------------------------------------------------------------------------

DIFF = """\
diff --git a/new.py b/new.py
new file mode 100644
index 0000000..1111111
--- /dev/null
+++ b/new.py
@@ -0,0 +1,2 @@
+one
+two
diff --git a/old.sql b/old.sql
index 2222222..3333333 100644
--- a/old.sql
+++ b/old.sql
@@ -1,3 +1,3 @@
 keep
---- a removed SQL comment, not a header
+++++ an added line that looks like one
"""


def test_read_diff_counts_hunk_lines_not_headers() -> None:
    assert sagas.read_diff(DIFF) == [
        sagas.FileChange("new.py", 2, 0, new=True),
        sagas.FileChange("old.sql", 1, 1, new=False),
    ]
