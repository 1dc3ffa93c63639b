"""The HTML timeline as a triage page: spans, anchors, the replay command and the schedule, the
store toggle, fault severities, payload diffs; and the page as headless Chromium renders it
(skipped where no Chromium is installed)."""

from __future__ import annotations

import io
import json
import re
import shlex
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner
from rich.console import Console

from mfm_sim import SimResult, get_scenario, simulate
from mfm_sim.cli.main import cli
from mfm_sim.faults.kinds import CRASH_KINDS, LYING_KINDS, Fault, FaultKind
from mfm_sim.report.summary import ReplayOptions
from mfm_sim.report.timeline import (
    SEVERITIES,
    Row,
    fault_severity,
    render,
    row_severity,
    rows,
)
from mfm_sim.report.timeline_html import page_for, render_html, spans
from mfm_sim.selfcheck.variants import VARIANTS

VARIANT = "unfixed_orphan"
SEED = 9  # a linear seed the variant fails: attempt 0 of chain.s0.run is orphaned by a crash
needs_variant = pytest.mark.skipif(VARIANT not in VARIANTS, reason="variant not registered")
REPLAY = ReplayOptions(VARIANT).command("linear", SEED)


class _Page(HTMLParser):
    """Ids, link targets by the element class they sit in, and classes of every tag."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[tuple[str, str]] = []  # (href, class of the <a>)
        self.in_violations = False
        self.violation_links: list[str] = []
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs_: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs_}
        self.tags.append((tag, a))
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "ul" and a.get("class") == "violations":
            self.in_violations = True
        if tag == "a" and "href" in a:
            self.links.append((a["href"], a.get("class", "")))
            if self.in_violations:
                self.violation_links.append(a["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "ul":
            self.in_violations = False

    def with_class(self, tag: str, cls: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag and cls in a.get("class", "").split()]


@pytest.fixture(scope="module")
def failing() -> SimResult:
    if VARIANT not in VARIANTS:
        pytest.skip("variant not registered")
    return simulate(get_scenario("linear"), SEED, variant=VARIANT)


@pytest.fixture(scope="module")
def page(failing: SimResult) -> str:
    return page_for(failing, variant=VARIANT, replay=REPLAY)


# ------------------------------------------------------------------------------ spans


def _event(i: int, detail: str, inc: int = 0) -> Row:
    return Row(i, inc, "event", f"abcd1234#{detail}", "kernel")


def test_spans_close_on_completion_failure_or_a_later_attempt() -> None:
    items = [
        _event(0, "1 RunStarted op manifest=1 initial=2"),
        _event(1, "2 StateEntered a attempt=0 base=2"),
        Row(2, 0, "outcome", "crash", "crash"),
        _event(3, "3 StateEntered a attempt=1 base=2", inc=1),
        _event(4, "4 StateCompleted a snapshot=3", inc=1),
        _event(5, "5 StateEntered b attempt=0 base=3", inc=1),
        _event(6, "6 StateFailed b boom retryable=False", inc=1),
        _event(7, "7 StateEntered c attempt=0 base=3", inc=1),
        Row(8, 1, "store", "artifacts.get x", "store"),
    ]
    got = [(s.state, s.attempt, s.first, s.last, s.outcome, s.anchor) for s in spans(items)]
    assert got == [
        ("a", "0", 1, 3, "superseded", "ev-abcd1234-2"),
        ("a", "1", 3, 4, "completed", "ev-abcd1234-3"),
        ("b", "0", 5, 6, "failed", "ev-abcd1234-5"),
        ("c", "0", 7, 8, "open", "ev-abcd1234-7"),
    ]


@needs_variant
def test_the_orphaned_attempt_is_a_cited_superseded_span(failing: SimResult, page: str) -> None:
    found = spans(rows(failing))
    s0 = [s for s in found if s.state == "chain.s0.run"]
    assert [(s.attempt, s.outcome, s.cited) for s in s0] == [
        ("0", "superseded", True),
        ("1", "completed", True),
    ]
    doc = _Page(page)
    drawn = doc.with_class("a", "span")
    legend = len(doc.with_class("ul", "legend"))  # the legend draws one of each outcome too
    assert legend == 1
    lanes = [a for a in drawn if a.get("href", "").startswith("#ev-")]
    assert len(lanes) == len(found)
    assert all(a["href"][1:] in doc.ids for a in lanes)


# ------------------------------------------------------------------------------ severity


def test_fault_severity_follows_the_fault_class() -> None:
    assert fault_severity(FaultKind.LATENCY) == "slow"
    assert {fault_severity(k) for k in CRASH_KINDS} == {"crash"}
    assert {fault_severity(k) for k in LYING_KINDS} == {"lie"}
    assert fault_severity(FaultKind.TRANSIENT_ERROR) == "error"
    assert fault_severity(FaultKind.HANDLER_FAILURE) == "other"


@needs_variant
def test_latency_is_not_drawn_as_a_crash(failing: SimResult, page: str) -> None:
    crash = failing.schedule.faults[0]
    assert crash.kind in CRASH_KINDS
    assert 'class="fault sev-crash' in page
    slow = Fault(crash.step, FaultKind.LATENCY, crash.site, 200)
    schedule = attrs.evolve(failing.schedule, faults=(slow,))
    result = simulate(get_scenario("linear"), SEED, schedule=schedule)
    assert result.stats.faults_by_kind == (("latency", 1),)
    text = render_html(result)
    assert 'class="fault sev-slow' in text
    assert "sev-crash" not in text.split("<tbody>", 1)[1]  # only the legend has the red
    # The terminal timeline styles the fault row by its severity too.
    (slow_row,) = [r for r in rows(result) if r.category == "fault"]
    assert row_severity(slow_row) == "slow" and "red" not in SEVERITIES["slow"][0]
    buf = io.StringIO()
    Console(file=buf, width=160, color_system="truecolor", force_terminal=True).print(
        render(result)
    )
    line = next(x for x in buf.getvalue().splitlines() if "latency at" in x)
    assert "\x1b[" in line and ";41m" not in line and "48;5;1m" not in line  # no red ground


# ------------------------------------------------------------------------------ links


@needs_variant
def test_violations_link_to_their_events_and_back(failing: SimResult, page: str) -> None:
    doc = _Page(page)
    assert doc.violation_links, "the violations cite events"
    assert all(h.startswith("#ev-") and h[1:] in doc.ids for h in doc.violation_links)
    cited = {f"#ev-{v.run_id[:8]}-{s}" for v in failing.violations if v.run_id for s in v.seqs}
    assert set(doc.violation_links) == cited
    marks = [h for h, cls in doc.links if cls == "mark"]
    assert marks and all(h[1:] in doc.ids and h.startswith("#v-") for h in marks)


def test_a_violation_citing_an_event_not_traced_is_not_a_dead_link() -> None:
    res = simulate(get_scenario("linear"), 1, keep_trace=False)
    from mfm_sim.invariants import Violation

    broken = attrs.evolve(res, violations=(Violation("order", "abcdef12", (4,), "boom", 1),))
    doc = _Page(render_html(broken))
    assert doc.violation_links == []
    assert "seq 4 (not traced)" in render_html(broken)


# ------------------------------------------------------------------------------ replay, schedule


@needs_variant
def test_the_page_embeds_the_replay_command_and_the_schedule(failing: SimResult, page: str) -> None:
    assert REPLAY in page
    m = re.search(r'<script type="application/json" id="mfm-schedule">(.*?)</script>', page, re.S)
    assert m is not None
    assert json.loads(m.group(1)) == failing.schedule.to_json()


def test_the_embedded_schedule_cannot_close_its_script_element() -> None:
    res = simulate(get_scenario("linear"), 1)
    hostile = attrs.evolve(res, schedule=attrs.evolve(res.schedule, scenario="x</script><b>"))
    text = render_html(hostile)
    block = text.split('id="mfm-schedule">', 1)[1].split("</script>", 1)[0]
    assert json.loads(block)["scenario"] == "x</script><b>"


@needs_variant
def test_the_page_is_self_contained_and_deterministic(failing: SimResult, page: str) -> None:
    for needle in ("http://", "https://", " src=", "<link", "@import"):
        assert needle not in page
    assert page == page_for(failing, variant=VARIANT, replay=REPLAY)


# ------------------------------------------------------------------------------ payloads


@needs_variant
def test_payloads_expand_with_a_diff_against_the_fault_free_run(page: str) -> None:
    row = page.split('id="ev-4d8bb29c-3"', 1)[1].split("</tr>", 1)[0]  # attempt 1 of s0
    assert '<details class="payload">' in row
    assert '<span class="del">-    &quot;attempt&quot;: 0,</span>' in row
    assert '<span class="add">+    &quot;attempt&quot;: 1,</span>' in row
    later = page.split('id="ev-4d8bb29c-5"', 1)[1].split("</tr>", 1)[0]  # s0 completes
    assert "(the same as in the fault-free run)" in later


def test_a_fault_free_page_differs_from_nothing() -> None:
    res = simulate(get_scenario("linear"), 1, faults=())
    assert not res.schedule.faults
    text = page_for(res)
    assert text.count('<details class="payload">') == text.count("(the same as in the fault")
    assert '<span class="add">' not in text


# ------------------------------------------------------------------------------ CLI


@needs_variant
def test_replay_html_names_a_command_that_reproduces_it(tmp_path: Path) -> None:
    out = tmp_path / "t.html"
    args = ["replay", str(SEED), "--scenario", "linear", "--engine-variant", VARIANT]
    res = CliRunner().invoke(cli, [*args, "--html", str(out)])
    assert res.exit_code == 1, res.output
    text = out.read_text()
    command = _Page(text)
    m = re.search(r'<pre class="replay" id="replay">(.*?)</pre>', text, re.S)
    assert m is not None and command.ids >= {"replay", "spans", "legend", "show-store"}
    argv = shlex.split(m.group(1).replace("&#x27;", "'").replace("&quot;", '"'))
    assert argv[:2] == ["mfm-sim", "replay"] and VARIANT in argv
    again = CliRunner().invoke(cli, argv[1:])
    digest = re.search(r"digest: (\w+)", res.output)
    assert digest is not None and f"digest: {digest.group(1)}" in again.output


# ------------------------------------------------------------------------------ Chromium


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


CHROMIUM = _chromium()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed")


def _browse(tmp_path: Path, url: str, *extra: str) -> str:
    assert CHROMIUM is not None
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",  # one per test: xdist runs them together
        *extra,
        url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture
def page_file(page: str, tmp_path: Path) -> Path:
    path = tmp_path / "timeline.html"
    path.write_text(page)
    return path


def _body(dom: str) -> dict[str, str]:
    return next(a for t, a in _Page(dom).tags if t == "body")


@needs_chromium
@needs_variant
def test_chromium_renders_the_spans_and_runs_the_store_toggle(
    failing: SimResult, page_file: Path, tmp_path: Path
) -> None:
    stores = sum(1 for r in rows(failing) if r.category == "store")
    assert stores > 0
    dom = _browse(tmp_path, page_file.as_uri(), "--dump-dom")
    doc = _Page(dom)
    assert len([a for a in doc.with_class("a", "span") if "href" in a]) == len(spans(rows(failing)))
    body = _body(dom)
    assert body.get("data-store-rows-shown") == str(stores)  # the script ran; all shown
    assert "hide-store" not in body.get("class", "")
    hidden = _browse(tmp_path, page_file.as_uri() + "#no-store", "--dump-dom")
    body = _body(hidden)
    assert "hide-store" in body.get("class", "").split()
    assert body.get("data-store-rows-shown") == "0"  # the stylesheet really hid them


@needs_chromium
@needs_variant
def test_chromium_resolves_a_violation_anchor_and_opens_its_payload(
    page_file: Path, tmp_path: Path
) -> None:
    first = _Page(page_file.read_text()).violation_links[0]
    dom = _browse(tmp_path, page_file.as_uri() + first, "--dump-dom")
    row = dom.split(f'id="{first[1:]}"', 1)[1].split("</tr>", 1)[0]
    assert '<details class="payload" open="">' in row  # found by id, then opened
    assert dom.count(' open=""') == 1


@needs_chromium
@needs_variant
def test_chromium_screenshots_the_page(page_file: Path, tmp_path: Path) -> None:
    shot = tmp_path / "timeline.png"
    _browse(tmp_path, page_file.as_uri(), f"--screenshot={shot}", "--window-size=1300,1700")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1300, 1700)
    assert len(data) > 20_000  # a rendered page, not a blank one
