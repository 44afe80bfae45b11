"""muxscope's readings against the emulated client's own record when pushes come by the hundred.

Two sessions of issue 14's item 5, server, proxy and client as processes (tests/integration/test_truth.py
``run_session``):

* a steady stream of 200 lines/s in the pane while the window is dragged (#3694): every fetched
  row's outcome and cause, the report's ``rows`` and each pane's ``rows`` equal the client's record;
* a key held down in a full-screen editor (#2503's kind of session): each key moves the cursor off a
  row the editor does not redraw, so each push needs a prefetch, well over WezTerm's 50 a second,
  and ``fetch_limiter`` turns the rest into stale rows (renderable.rs:408-446). The analysis
  mirrors the limiter (proxy/analysis/fetchlimit.py).

Measured while writing this (2 cores shared with five other test runs): the stream session brings
the client 20-170 pushes in its ~3 s (the server, rewrapping on every Resize of the drag, pushes
less often than the 170 a second it pushes undisturbed) and no throttled push: every row a stream's
push changes is a bonus line, so it needs no prefetch; 7 of 10 sessions agreed row for row once three
crossing rules stopped misfiring (crossing.py ``walk_from_new_top_reaches``, ``after_push_that_set_the_top``,
``held_up_to_date_before``). The held key gives 190-390 pushes in 1.2 s, 11-136 of them throttled.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.integration.test_truth import _differing, run_session

pytestmark = pytest.mark.integration


def _session(name: str, scenario: str, extra: list[str], server_extra: list[str]) -> tuple[dict, object, dict, Path]:
    d = Path(tempfile.mkdtemp(prefix=f"muxscope-limiter-{name}-", dir="/tmp"))
    truth, analysis, report = run_session(scenario, "wezterm", d, extra=extra, server_extra=server_extra)
    return truth, analysis, report, d


def _row_for_row(truth: dict, analysis: object) -> list:
    """What differs between the report and the client's record: fetched rows (outcome, cause), the
    top-level ``rows``, each pane's ``rows``, and GetLines judged to have crossed a push they did not."""
    report = analysis.report()
    problems: list = sorted(_differing(truth, analysis).items())[:5]
    if report["rows"] != truth["rows"]:
        problems.append(("rows", report["rows"], truth["rows"]))
    for pane, counts in truth["panes"].items():
        if report["panes"][pane]["rows"] != counts["rows"]:
            problems.append((f"pane {pane} rows", report["panes"][pane]["rows"], counts["rows"]))
    invented = {serial for _, serial in analysis.crossed_log} - truth["crossed"].keys()
    if invented:
        problems.append(("crossings the client did not make", sorted(invented)))
    return problems


@pytest.mark.xfail(strict=False, reason=(
    "crossings without evidence under load: passed 7 of 10 sessions on a heavily shared machine and 6 of 6 "
    "once it was quieter (250-290 pushes each); the failures had "
    "GetLines round trips of 140-160 ms and requests relayed 5-7 ms after the client wrote them (2 cores "
    "shared with five other suites), and a paint from a top 73 ms old, past the model's crossing window"))
def test_a_200_lines_per_s_stream_during_a_drag_reads_row_for_row():
    # the stream starts once the client has attached (a flood during attach is the GUI queue's
    # business, not this test's: pushes for a pane not yet listed wait for the resync)
    truth, analysis, report, d = _session(
        "stream", "resize-drag", ["--drag-seconds", "2.5", "--resizes", "30"],
        ["--stream-lines-per-s", "200", "--stream-delay-s", "1.5", "--scrollback", "300"])
    problems = _row_for_row(truth, analysis)
    print(f"stream: {report['pushes']} pushes, {report['throttled_pushes']} throttled, "
          f"{len(truth['rows_detail'])} rows fetched, {len(problems)} differences")
    assert report["pushes"] >= 30 and report["resizes_sent"] >= 10  # the stream ran, the drag happened
    assert not problems, f"{problems} (capture and truth kept in {d})"
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.xfail(strict=False, reason=(
    "crossings without evidence at ~300 pushes/s: a busy client reads several pushes in one chunk and "
    "sends each one's prefetch before taking in the next; when the first such request shows no sign of "
    "having crossed, the model commits its log and the next request's evidence (a row a later push "
    "delivered) is gone. Measured after the same-read rule (crossing.py delivered_in_chunk): 0-7 of "
    "150-215 rows differ, mostly in cause (client 'dirty', model 'unexplained'), in 2 of 3 sessions; "
    "no difference with --prefetch-rate 0 on both sides, so not the limiter's"))
def test_a_held_key_in_the_editor_is_throttled_and_reads_row_for_row():
    keys = "\\x1b" + "jk" * 150  # normal mode, then down/up 300 times, ~2 ms apart
    truth, analysis, report, d = _session(
        "editor", "typing", ["--keys", keys, "--key-interval", "0.002", "--typing-via", "write"],
        ["--app", "editor"])
    problems = _row_for_row(truth, analysis)
    print(f"editor: {report['pushes']} pushes, {report['throttled_pushes']} throttled, "
          f"{len(truth['rows_detail'])} rows fetched, {len(problems)} differences: {problems}")
    assert report["pushes"] >= 100
    assert not problems, f"{problems} (capture and truth kept in {d})"
    shutil.rmtree(d, ignore_errors=True)
