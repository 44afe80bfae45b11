"""muxscope's readings of split-pane sessions against the emulated client's own record.

A divider drag in a client-domain tab (#5142) and a zoom: every pane's Resize brings a TabResized,
the client lists the panes and sends back every listed size that differs from its own (the
feedback wezterm-client has), so most of these sessions' fetches are the resync's (``tab_resized``)
or the zoom's (``zoom``). The capture's report must equal the client's truth row for row, causes
included, and the over-fetch shares must agree within 1 percentage point; the 40 ms link is where
the feedback is worst (docs/wezterm-behaviour.md, "splits").
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.integration.test_truth import (
    _check_outcomes,
    _check_what_ifs,
    _crossing_rows,
    _excused_causes,
    _resize_crossed_rows,
    run_session,
)


def _share(rows: dict[str, int]) -> float:
    total = sum(rows.values())
    return 100.0 * (rows["redundant"] + rows["superseded"]) / total if total else 0.0


def _session(scenario: str, client_extra: list[str], proxy_extra: list[str] = (),
             policy: str = "wezterm") -> tuple[dict, dict, dict]:
    d = tempfile.mkdtemp(prefix=f"muxscope-splits-{scenario}-{policy}-", dir="/tmp")
    truth, analysis, client = run_session(scenario, policy, Path(d), extra=client_extra,
                                          server_extra=["--layout", "split"], proxy_extra=proxy_extra)
    report = analysis.report()
    try:
        assert client.get("settled"), client.get("errors")
        slack = _check_outcomes(scenario, policy, truth, analysis)
        _check_what_ifs(client, analysis, _crossing_rows(truth, analysis, slack) + _excused_causes(truth, analysis)
                        + _resize_crossed_rows(truth))
        assert report["rows"] == truth["rows"]
        assert {p: v["rows"] for p, v in report["panes"].items()} == {p: v["rows"] for p, v in truth["panes"].items()}
        assert abs(_share(report["rows"]) - _share(truth["rows"])) <= 1.0
    except AssertionError:
        print(f"capture and truth kept in {d} (muxscope report {d}/c.muxcap)")
        raise
    shutil.rmtree(d, ignore_errors=True)
    return truth, report, client


UNSTEADY_UNDER_LOAD = pytest.mark.xfail(strict=False, reason=(
    "divider drag with TabResized feedback under a full suite on 2 cores: in one run both this and the coalesce "
    "drag missed (a row read tab_resized that the client counted dirty; a what-if count 51 vs 56), the run before "
    "and runs alone pass; the same gap as issue-5142 in tests/integration/test_reported.py UNSTEADY_ROWS"))


@UNSTEADY_UNDER_LOAD
def test_divider_drag_over_a_40ms_link_feeds_back_and_reads_right():
    """6 divider moves in 0.3 s at 40 ms RTT: Resizes are fed back. (20 moves in 1 s fed back 18-39
    and settled in 0.5 s on a quiet machine, but up to hundreds and 30 s on a loaded one.)"""
    truth, report, client = _session("divider-drag", ["--resizes", "6", "--drag-seconds", "0.3", "--timeout", "45"],
                                     ["--shape", "rtt=40ms"])
    splits = client["splits"]
    print(f"divider drag at 40 ms: {splits}, over-fetch {_share(truth['rows']):.1f} %")
    assert splits["moves"] == 6 and splits["user_resizes"] >= 6
    assert splits["fed_back_resizes"] > 0
    assert truth["causes"]["tab_resized"] > 0
    assert report["causes"] == {c: n for c, n in truth["causes"].items() if n}


@UNSTEADY_UNDER_LOAD
@pytest.mark.parametrize("policy", ["selective", "coalesce"])
def test_divider_drag_under_the_other_policies(policy):
    truth, report, _ = _session("divider-drag", ["--resizes", "6", "--drag-seconds", "0.3", "--timeout", "45"],
                                policy=policy)
    assert truth["causes"]["resize"] > 0 and report["causes"]["resize"] == truth["causes"]["resize"]


def test_zoom_reads_as_zoom():
    truth, report, client = _session("zoom", ["--zoom-seconds", "0.3"])
    assert client["rpcs"]["SetPaneZoomed"] == 2 and client["rpcs"]["Resize"] >= 2
    assert truth["causes"]["zoom"] > 0
    assert report["causes"].get("zoom") == truth["causes"]["zoom"]
