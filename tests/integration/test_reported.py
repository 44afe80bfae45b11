"""The sessions from WezTerm's bug reports, through ``muxscope demo --scenario NAME --quick``, against the truth.

Each run is the demo as a user starts it (emulated server, proxy over the
scenario's shaped link, emulated wezterm-gui, each a process of its own). Its
report (``report.json``, the shape of ``muxscope report --json``) must equal the
client's own record (``client-truth.json``) row for row, top-level and per pane,
and give the same over-fetch share within 1 percentage point; every fetched
row's outcome and cause must be the client's (tests/integration/test_truth.py's
checks, with the one crossing the wire cannot show); the capture read again
offline must give the live report's rows; and ``muxscope check-log`` on the
client's WezTerm-format log must agree with the client's record row by row
(tests/integration/test_check_log.py's check). The row-for-row reading of the sessions in
``UNSTEADY_ROWS`` (and the check-log of those in ``UNSTEADY_LOG``) is known to miss at times (what was
measured is there); those are expected failures, not skipped ones: an XPASS shows each time they agree.

Every scenario runs under WezTerm's policy in each order the GUI can apply a
reply and a push in (once the emulated client has ``--gui-order``), and under
each other policy in one order, so that the whole module stays within a few
minutes on two cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from muxscope_emulator.reported import FEATURES, NAMES
from tests.integration.test_check_log import _check_session
from tests.integration.test_truth import _check_outcomes, analyse_session

pytestmark = pytest.mark.integration

GUI_ORDERS: tuple[str | None, ...] = ("reply-first", "push-first") if FEATURES["gui-order"]() else (None,)
OTHER_POLICIES = ("selective", "coalesce", "debounce=100")
CASES = [(name, "wezterm", order) for name in NAMES for order in GUI_ORDERS] + [
    (name, policy, GUI_ORDERS[(i + j) % len(GUI_ORDERS)])
    for i, name in enumerate(NAMES) for j, policy in enumerate(OTHER_POLICIES)]

#: sessions whose reading is known to miss at times, with what was measured (not hidden: an XPASS shows
#: when they agree). Keys: scenario, (scenario, policy) or (scenario, policy, gui order); "*" any scenario.
UNSTEADY_ROWS = {
    "issue-3694": "a 200 lines/s stream during a drag, as tests/integration/test_truth_limiter.py: one GetLines "
                  "in 3 of 4 sessions judged otherwise (client new/dirty, muxscope superseded/resize) after the "
                  "SIGWINCH redraw's push dirtied rows in flight, with no crossing to show for it",
    "issue-7331": "3 tabs, a stream and a drag: 2 of 12 sessions missed (a GetLines judged to have crossed a "
                  "push it did not cross, with the GUI forced to apply replies first; 1 row in 2 GetLines)",
    "issue-5142": "the divider drag with TabResized feedback: 3 of 8 sessions missed, each differently (an "
                  "invented crossing; 2 rows dirty/unexplained; the raced rows off by more than the crossing "
                  "allows)",
}
#: sessions whose check-log or share is known to miss at times
UNSTEADY_LOG = {
    "issue-5142": "the divider drag with TabResized feedback: 1 of 8 sessions, check-log disagreed elsewhere "
                  "than where muxscope differs from the client's record",
    "issue-3694": "a 200 lines/s stream during a drag: 1 of 12 sessions (coalesce, push first), share or "
                  "check-log off",
    "issue-7331": "3 tabs, a stream and a drag: in one full-suite run on 2 cores 3 of 5 sessions had check-log "
                  "disagree on one row near the bottom of pane 0 that muxscope and the client's record agree on; "
                  "0 of 2 when run alone",
}


def _unsteady(name: str, policy: str, order: str | None, rows: bool) -> str | None:
    if not rows:
        return UNSTEADY_LOG.get(name)
    return UNSTEADY_ROWS.get((name, policy, order)) or UNSTEADY_ROWS.get(name)  # type: ignore[call-overload]


def share(rows: dict[str, int]) -> float:
    """Over-fetch share in percent: redundant + superseded of all rows fetched."""
    total = sum(rows.values())
    return 100.0 * (rows["redundant"] + rows["superseded"]) / total if total else 0.0


_RUNS: dict[tuple[str, str, str | None], Path] = {}


def demo_run(name: str, policy: str, order: str | None, tmp: Path) -> Path:
    """``muxscope demo --scenario NAME --quick`` once per case (both tests read the same session)."""
    key = (name, policy, order)
    if key not in _RUNS:
        out = tmp / f"{name}-{policy.replace('=', '')}-{order}"
        argv = [sys.executable, "-m", "proxy.cli", "demo", "--scenario", name, "--quick", "--policy", policy,
                "--out", str(out), "--metrics", "127.0.0.1:0", "--truth-detail",
                "--wezterm-log", str(out / "wezterm.log")]
        if order is not None:
            argv += ["--gui-order", order]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        _RUNS[key] = out
    return _RUNS[key]


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reported")


def _cases(rows: bool) -> list:
    out = []
    for name, policy, order in CASES:
        why = _unsteady(name, policy, order, rows)
        marks = [pytest.mark.xfail(strict=False, reason=why)] if why else []
        out.append(pytest.param(name, policy, order, marks=marks, id=f"{name}-{policy}-{order or 'queue'}"))
    return out


@pytest.mark.parametrize("name,policy,order", _cases(True))
def test_report_equals_the_truth_row_for_row(name, policy, order, runs_dir):
    """Every fetched row's outcome and cause is the client's (but for the one crossing the wire cannot
    show, as tests/integration/test_truth.py allows), and the report's rows, top-level and per pane,
    are the client's record's."""
    out = demo_run(name, policy, order, runs_dir)
    report = json.loads((out / "report.json").read_text())
    raw_truth = json.loads((out / "client-truth.json").read_text())
    truth, analysis = analyse_session(str(out / "demo.muxcap"), str(out / "client-truth.json"), policy)
    slack = _check_outcomes(name, policy, truth, analysis)
    off = sum(abs(report["rows"][o] - n) for o, n in raw_truth["rows"].items())
    assert off <= 2 * slack, (report["rows"], raw_truth["rows"])
    assert report["panes"].keys() == raw_truth["panes"].keys()
    for pane, counts in raw_truth["panes"].items():
        assert sum(abs(report["panes"][pane]["rows"][o] - n) for o, n in counts["rows"].items()) <= 2 * slack
    if "raced_rows" in raw_truth:
        assert abs(report["raced_rows"] - raw_truth["raced_rows"]) <= slack


@pytest.mark.parametrize("name,policy,order", _cases(False))
def test_share_and_check_log_agree(name, policy, order, runs_dir):
    """The same sessions: the over-fetch share within 1 percentage point of the client's record, the
    capture read again offline (muxscope report CAP --json) gives the live report's rows, and
    check-log on the client's WezTerm-format log agrees with the client's own record row by row."""
    out = demo_run(name, policy, order, runs_dir)
    report = json.loads((out / "report.json").read_text())
    raw_truth = json.loads((out / "client-truth.json").read_text())
    client = json.loads((out / "client-report.json").read_text())
    assert client["settled"] and not client["errors"], client["errors"]
    assert client["rows_fetched"] > 0
    # within 1 percentage point, or one row where a row is more than that (#2048's 82 rows: 1.2 pp)
    total = sum(raw_truth["rows"].values())
    assert abs(share(report["rows"]) - share(raw_truth["rows"])) <= max(1.0, 100.0 / total + 1e-9)
    _, analysis = analyse_session(str(out / "demo.muxcap"), str(out / "client-truth.json"), policy)
    offline = analysis.report()
    assert offline["rows"] == report["rows"] and offline["panes"] == report["panes"]
    model = policy if policy in ("selective", "coalesce") else "wezterm"
    _check_session(raw_truth, out / "wezterm.log", out / "demo.muxcap", model)
    what_if = offline["what_if"]
    print(f"{name}/{policy}/{order}: over-fetch {share(report['rows']):.1f}% (truth {share(raw_truth['rows']):.1f}%), "
          f"{sum(report['rows'].values())} rows, raced {report.get('raced_rows', '-')}, settle "
          f"{client['settle_time_s']} s; what-ifs (selective, coalesce): muxscope "
          f"{what_if['selective']['rows_saved']}, {what_if['coalesce']['rows_saved']}; client "
          f"{client['selective_saved_rows']}, {client['refetched_in_flight']}")
