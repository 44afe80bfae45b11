"""muxscope's readings against the emulated client's ground truth.

Server, proxy and client run as separate processes, as they do in real use
(the client's own event loop must not be starved by the proxy's), connected
over unix sockets; the proxy records a capture, the client writes its
``--truth-file`` with every fetched row's outcome. The capture's analysis must
give the same outcome for every row, the same per-pane counts (the JSON shape
is shared), and latencies consistent with the client's.

A push the proxy has already relayed but the client has not yet read when it
writes a request (they cross) appears in the opposite order on the wire; the
line model recognises such requests and puts them back in the client's order
(see :mod:`proxy.analysis.linemodel`), so the runs agree row for row (but for
one kind of crossing the wire shows no trace of; see ``_check_outcomes``). The
coalescing client changes what it does without a word on the wire (it waits
for a fetch instead of sending one), so the analysis is told with its
``client_model``, as a user would pass ``--client-model coalesce``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from proxy import logs
from proxy.analysis.analyzer import Analyzer
from proxy.analysis.attribution import AttributionAddon
from proxy.capture_format import open_capture
from proxy.offline import replay_records
from tests.integration import free_port, wait_port

PY = [sys.executable, "-m", "proxy.cli"]


class _Quiet:
    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: self


def _wait_for(path: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.02)


def run_session(scenario: str, policy: str, tmp: Path, extra: list[str] = (),
                server_extra: list[str] = (), tcp: bool = False) -> tuple[dict, AttributionAddon, dict]:
    """One session (server, proxy and client as processes): the client's truth file, muxscope's
    analysis of the capture, and the client's own report (``--json``; empty if it printed none).
    ``tcp``: the client reaches the proxy over TCP loopback (where it reads kernel receive
    timestamps) instead of a unix socket."""
    server_sock, proxy_sock = str(tmp / "s.sock"), str(tmp / "p.sock")
    port = free_port() if tcp else None
    proxy_addr = f"tcp:127.0.0.1:{port}" if tcp else f"unix:{proxy_sock}"
    capture, truth_file = str(tmp / "c.muxcap"), str(tmp / "truth.json")
    server = subprocess.Popen([*PY, "emulate", "server", "--listen", f"unix:{server_sock}", *server_extra],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy = None
    try:
        _wait_for(server_sock)
        proxy = subprocess.Popen([*PY, "proxy", "--listen", proxy_addr, "--upstream", f"unix:{server_sock}",
                                  "--capture", capture, "--log-level", "warning"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if port is not None:
            wait_port(port, 10.0, proxy)
        else:
            _wait_for(proxy_sock)
        client = subprocess.run([*PY, "emulate", "client", "--connect", proxy_addr, "--scenario", scenario,
                                 "--policy", policy, "--truth-file", truth_file, "--truth-detail", "--json", *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=60, check=False)
    finally:
        if proxy is not None:
            proxy.send_signal(signal.SIGINT)
            proxy.wait(timeout=20)
        server.terminate()
        server.wait(timeout=10)
    truth = json.loads(Path(truth_file).read_text())
    logs.configure("json", "warning")
    reader = open_capture(capture)
    model = "coalesce" if policy == "coalesce" else "wezterm"
    attribution = AttributionAddon(None, live=False, logger=_Quiet(), record_rows=True, client_model=model)
    analyzer = Analyzer(None, [attribution], logger=_Quiet())
    replay_records(reader, analyzer)
    attribution.finish()
    (tmp / "client.json").write_bytes(client.stdout)
    try:
        report = json.loads(client.stdout)
    except ValueError:
        report = {}
    return truth, attribution, report


SCENARIOS = ("resize-drag", "typing", "scroll")
POLICIES = ("wezterm", "selective", "coalesce", "debounce=100")


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_outcomes_equal_the_clients_own_record(scenario, policy):
    _checked_session(scenario, policy)


@pytest.mark.parametrize("scenario", ["resize-drag", "scroll"])
def test_outcomes_equal_the_clients_own_record_while_output_streams(scenario):
    """Two tabs and 30 lines/s of output in each: pushes keep coming while the client fetches."""
    _checked_session(scenario, "wezterm", ["--panes", "2", "--output-rate", "30"])


def _checked_session(scenario: str, policy: str, server_extra: list[str] = ()) -> None:
    """Run a session and check it; a failing one's capture and truth file are kept, and named."""
    d = tempfile.mkdtemp(prefix=f"muxscope-truth-{scenario}-{policy}-", dir="/tmp")
    truth, attribution, client_report = run_session(scenario, policy, Path(d), server_extra=server_extra)
    try:
        slack = _check_outcomes(scenario, policy, truth, attribution)
        _check_what_ifs(client_report, attribution, slack)
    except AssertionError:
        print(f"capture and truth kept in {d} (muxscope report {d}/c.muxcap)")
        raise
    shutil.rmtree(d, ignore_errors=True)


def _check_outcomes(scenario: str, policy: str, truth: dict, attribution: AttributionAddon) -> int:
    """Every row agrees, except at most those of one GetLines; returns how many rows differ.

    That one is the crossing the wire gives no evidence of: a busy client that sends a request
    for a few rows it holds some milliseconds after the proxy relayed a push it has not read yet
    (seen in about 1 of 20 selective resize drags; linemodel.py lists the evidence it uses).
    """
    report = attribution.report()
    client = {(s, p, r): o for s, p, r, o in truth["rows_detail"]}
    mine = {(s, p, r): o for _, s, p, r, o, _ in attribution.row_log}
    total = len(client)
    assert total > 0 and mine.keys() == client.keys()
    differing = {k: (client[k], mine[k]) for k in client if client[k] != mine[k]}
    print(f"{scenario}/{policy}: {total - len(differing)} of {total} rows agree")
    requests = {serial for serial, _, _ in differing}
    assert len(requests) <= 1, f"{len(differing)} of {total} rows differ: {sorted(differing.items())[:5]}"
    slack = len(differing)
    assert report["panes"].keys() == truth["panes"].keys()  # the same JSON shape
    for pane, counts in truth["panes"].items():
        got = report["panes"][pane]["rows"]
        assert sum(abs(got[o] - counts["rows"][o]) for o in counts["rows"]) <= 2 * slack, (pane, got, counts)
    # causes, where the client knows them: every requested row's cause, counted the same. The
    # selective client leaves some rows un-stale on a resize where WezTerm's make_all_stale (which
    # the analysis mirrors) stales them all; if such a row is later refetched as a changed line,
    # the client says dirty and the analysis resize (seen: 2 of 92 rows)
    causes = {c: n for c, n in truth["causes"].items() if n}
    off = sum(abs(report["causes"].get(c, 0) - causes.get(c, 0)) for c in set(causes) | set(report["causes"]))
    allowed = 2 * slack + (2 * (total // 20) if policy == "selective" else 0)
    assert off <= allowed, (report["causes"], causes)
    return slack


def _check_what_ifs(client_report: dict, attribution: AttributionAddon, slack: int = 0) -> None:
    """The report's selective and coalescing what-ifs count, from the wire, what the client counts
    of the same run from its own cache: the rows it fetched because of a resize that a rewrap could
    not have altered (``selective_saved_rows``, 0 under the selective policy itself), and the rows
    it asked for again while a still-valid fetch was in flight or had its reply dropped
    (``refetched_in_flight``, 0 for a coalescing client). Where the rows of one GetLines were judged
    otherwise than the client did (``slack`` rows, see _check_outcomes), each may be off by as many."""
    what_if = attribution.report()["what_if"]
    got = (what_if["selective"]["rows_saved"], what_if["coalesce"]["rows_saved"])
    want = (client_report["selective_saved_rows"], client_report["refetched_in_flight"])
    print(f"what-ifs (selective, coalesce): muxscope {got}, client {want}")
    assert all(abs(a - b) <= slack for a, b in zip(got, want, strict=True)), (got, want, slack)


def test_latencies_agree_with_the_client():
    """Per GetLines, the latency the proxy logs and the one the client measured, on TCP loopback.

    Both sides use the kernel's receive stamps (the proxy for requests, proxy.stamped; the client
    for replies, muxconn.py), so neither side's event loop shows: the proxy's wait is the client's
    minus two loopback hops (10 sessions: 205 of 206 GetLines 12-312 us apart, median 27 us). What
    is left is a process preempted between taking a stamp and the send it stands for, on a machine
    running server, proxy and client on 2 cores: seen once in those 206 (3.6 ms).
    """
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        truth, attribution, _ = run_session("resize-drag", "wezterm", Path(d), tcp=True)
    client = {r["serial"]: r["latency_ms"] for r in truth["rpcs"] if r["pdu"] == "GetLines"}
    mine = {f[5]: (f[1] - f[0]) / 1e6 for f in attribution.fetches}
    assert mine.keys() == client.keys() and len(mine) > 10
    gaps = sorted(client[s] - mine[s] for s in mine)
    within = sum(1 for g in gaps if abs(g) <= 2.0)
    print(f"client minus proxy latency, ms: min {gaps[0]:.3f}, p50 {gaps[len(gaps) // 2]:.3f}, "
          f"p90 {gaps[len(gaps) * 9 // 10]:.3f}, max {gaps[-1]:.3f}; {within} of {len(gaps)} GetLines within 2 ms")
    assert gaps[0] >= -0.5, "the proxy measured more than the client: it cannot, it sits inside the round trip"
    assert gaps[len(gaps) // 2] <= 0.5
    assert len(gaps) - within <= 1, f"{len(gaps) - within} GetLines differ by more than 2 ms: {gaps[:2]}, {gaps[-2:]}"
