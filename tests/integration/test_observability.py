"""The Grafana dashboard against a real Prometheus scraping a real proxy.

A muxscope proxy (ProxyRuntime, in-process on its own event loop thread) sits in
front of the emulated mux server on a shaped link; Prometheus (the system binary,
on loopback, temporary config and storage) scrapes it every second; the emulated
wezterm-gui client does a resize drag through it. Then every PromQL expression in
grafana/muxscope.json, with Grafana's template variables filled in, goes through
Prometheus's query API and must parse and return data. promtool lints the shipped
scrape config and muxscope's exposition.

Without prometheus/promtool these tests skip with the reason, except under
MUXSCOPE_REQUIRE_INTEGRATION=1 (CI), where that is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from proxy.relay.endpoints import UnixAddress
from proxy.relay.shaping import LinkShape, parse_bandwidth, shaper_for
from proxy.runtime import ProxyRuntime, RuntimeOptions
from tests.components import free_port, missing, require_binary

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
DASHBOARD = GRAFANA / "muxscope.json"

SCRAPE_INTERVAL_S = 1.0
#: scrapes that must have happened after the drag before the dashboard is queried
SCRAPES_AFTER_DRAG = 3
#: what Grafana would put in for its built-in variables at a 1 s scrape interval and a short time range
#: ($__rate_interval is at least 4 scrape intervals; 30 s covers the whole ~3 s drag even when a loaded
#: machine takes several seconds to get from the drag to the query)
BUILTINS = {
    "__rate_interval": "30s",
    "__interval": "5s",
    "__interval_ms": "5000",
    "__range": "5m",
    "__range_s": "300",
    "__range_ms": "300000",
}


def _tool(name: str) -> str:
    if shutil.which(name) is None:
        missing(f"{name} is not installed (Debian/Ubuntu: apt-get install prometheus)")
    return require_binary(name)


def _get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


def _get_text(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def _wait_for(what: str, check, timeout: float, log: Path | None = None):
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            got = check()
        except (OSError, ValueError, KeyError) as exc:
            last_exc, got = exc, None
        if got:
            return got
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
    pytest.fail(f"timed out after {timeout:g} s waiting for {what} (last error: {last_exc!r})\n{tail}")


# -- Grafana template variables --------------------------------------------------------------------------------

_VAR_RE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)(?::\w+)?\]\]")


def dashboard_variables(dash: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dash.get("templating", {}).get("list", [])}


def substitute(expr: str, variables: dict[str, dict[str, Any]]) -> str:
    """Fill in template variables the way Grafana does with "All" selected (regex ``.*``)."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        if name in BUILTINS:
            return BUILTINS[name]
        var = variables.get(name)
        if var is None:
            raise AssertionError(f"unknown template variable ${name} in {expr!r}")
        if var["type"] == "datasource":
            raise AssertionError(f"data source variable ${name} used inside a query: {expr!r}")
        return var.get("allValue") or ".*"

    return _VAR_RE.sub(repl, expr)


def dashboard_targets(dash: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in dash["panels"]:
        for p in [panel, *panel.get("panels", [])]:
            for t in p.get("targets", []):
                yield p, t


# -- the live proxy with a resize drag ------------------------------------------------------------------------


class LiveDrag:
    """Emulated mux server + muxscope proxy (metrics on) on a background event loop; drags on demand."""

    def __init__(self) -> None:
        self.sockdir = tempfile.mkdtemp(prefix="muxscope-obs-")  # short: unix socket paths are limited
        self.ready = threading.Event()
        self.dragged = threading.Event()
        self.metrics_url: str | None = None
        self.error: BaseException | None = None
        self.report: Any = None
        self.drag_started = self.drag_ended = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._go: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="muxscope-live-drag", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        if not self.ready.wait(timeout):
            raise TimeoutError("the proxy did not start")
        if self.error is not None:
            raise self.error

    def drag(self, timeout: float = 20.0) -> None:
        assert self._loop is not None and self._go is not None
        self._loop.call_soon_threadsafe(self._go.set)
        if not self.dragged.wait(timeout):
            raise TimeoutError("the resize drag did not finish")
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop may have just ended
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)
        shutil.rmtree(self.sockdir, ignore_errors=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            self.error = exc
        finally:
            self.ready.set()
            self.dragged.set()

    async def _main(self) -> None:
        from muxscope_emulator.client import ClientOptions, EmulatedClient
        from muxscope_emulator.server import EmulatedMuxServer, ServerOptions

        self._loop = asyncio.get_running_loop()
        self._go, self._stop = asyncio.Event(), asyncio.Event()
        server_sock = os.path.join(self.sockdir, "mux.sock")
        proxy_sock = os.path.join(self.sockdir, "proxy.sock")
        server = EmulatedMuxServer(ServerOptions(rows=40, cols=120, scrollback=2000))
        await server.start(UnixAddress(server_sock))
        # the demo's link: 40 ms RTT, 20 Mbit/s
        shape = LinkShape(0.020, 0.0, parse_bandwidth("20mbit"))
        rt = ProxyRuntime(RuntimeOptions(
            listen=UnixAddress(proxy_sock), upstream=UnixAddress(server_sock),
            metrics_addr="127.0.0.1:0", wrap_side=shaper_for(shape),
        ))
        try:
            await rt.start()
            self.metrics_url = rt.metrics_url
            self.ready.set()
            await self._go.wait()
            self.drag_started = time.time()
            client = EmulatedClient(ClientOptions(
                scenario="resize-drag", resizes=10, drag_seconds=0.5, rows=40, cols=120, timeout=10.0))
            self.report = await client.run(UnixAddress(proxy_sock))
            # the connection is closed (its last resize burst emitted) and the analysis has caught up
            await asyncio.wait_for(rt.server.wait_idle(), 10)
            await asyncio.get_running_loop().run_in_executor(None, rt.tap.wait_idle, 10.0)
            self.drag_ended = time.time()
            self.dragged.set()
            await self._stop.wait()
        finally:
            await rt.stop()
            await server.stop()


# -- Prometheus -------------------------------------------------------------------------------------------------


@dataclass
class Session:
    prom_url: str
    proxy_target: str
    metrics_text: str
    query_time: float
    drag: LiveDrag
    prom_log: Path


def _target_state(prom_url: str, scrape_url: str) -> dict[str, Any] | None:
    data = _get_json(f"{prom_url}/api/v1/targets?state=active")
    for t in data["data"]["activeTargets"]:
        if t.get("scrapeUrl") == scrape_url:
            return t
    return None


def _rfc3339(ts: str) -> float:
    """Prometheus's lastScrape (RFC 3339, nanoseconds) as a Unix time."""
    from datetime import datetime

    m = re.fullmatch(r"(.*?T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", ts)
    if not m:
        raise ValueError(f"unexpected timestamp {ts!r}")
    base, frac, tz = m.groups()
    t = datetime.fromisoformat(base + ("+00:00" if tz == "Z" else tz)).timestamp()
    return t + (float("0." + frac) if frac else 0.0)


def _scraped_up_after(prom_url: str, scrape_url: str, after: float) -> float | None:
    """The target's last scrape time if it is up and was scraped at or after ``after``."""
    t = _target_state(prom_url, scrape_url)
    if t is None or t.get("health") != "up":
        return None
    last = _rfc3339(t["lastScrape"])
    return last if last >= after else None


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    prometheus = _tool("prometheus")
    tmp = tmp_path_factory.mktemp("prometheus")
    drag = LiveDrag()
    proc: subprocess.Popen[bytes] | None = None
    log_path = tmp / "prometheus.log"
    try:
        drag.start()
        assert drag.metrics_url is not None
        scrape_url = drag.metrics_url
        target = urllib.parse.urlsplit(scrape_url).netloc
        (tmp / "prom.yml").write_text(
            "global:\n"
            f"  scrape_interval: {SCRAPE_INTERVAL_S:g}s\n"
            f"  scrape_timeout: {SCRAPE_INTERVAL_S:g}s\n"
            "scrape_configs:\n"
            "  - job_name: muxscope\n"
            "    static_configs:\n"
            f"      - targets: ['{target}']\n"
        )
        port = free_port()
        prom_url = f"http://127.0.0.1:{port}"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [prometheus, f"--config.file={tmp / 'prom.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )

        def ready() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"prometheus exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
            with urllib.request.urlopen(f"{prom_url}/-/ready", timeout=2) as r:
                return r.status == 200

        _wait_for("Prometheus to be ready", ready, 15, log_path)
        # one scrape before the drag, so that every counter has a baseline and rate()/increase() see it all
        _wait_for("a first scrape of the proxy", lambda: _scraped_up_after(prom_url, scrape_url, 0), 10, log_path)
        drag.drag()
        after = drag.drag_ended + (SCRAPES_AFTER_DRAG - 1) * SCRAPE_INTERVAL_S + 0.1
        last_scrape = _wait_for(f"{SCRAPES_AFTER_DRAG} scrapes after the drag",
                                lambda: _scraped_up_after(prom_url, scrape_url, after), 10, log_path)
        metrics_text = _get_text(scrape_url)
        # query just after that scrape, not "now": however slow this machine, the 10 s rate windows then
        # end ~3 s after the drag and cover it
        yield Session(prom_url, target, metrics_text, last_scrape + SCRAPE_INTERVAL_S / 2, drag, log_path)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        drag.stop()


def _query(s: Session, expr: str) -> dict[str, Any]:
    q = urllib.parse.urlencode({"query": expr, "time": f"{s.query_time:.3f}"})
    try:
        return _get_json(f"{s.prom_url}/api/v1/query?{q}")
    except urllib.error.HTTPError as exc:  # 400: the expression does not parse / evaluate
        return json.loads(exc.read().decode() or "{}") | {"status": "error", "http": exc.code}


def _values(result: dict[str, Any]) -> list[float]:
    data = result["data"]
    if data["resultType"] == "scalar":
        return [float(data["result"][1])]
    return [float(r["value"][1]) for r in data["result"]]


# -- tests ------------------------------------------------------------------------------------------------------


def test_promtool_check_config_of_shipped_prometheus_yml():
    promtool = _tool("promtool")
    p = subprocess.run([promtool, "check", "config", str(GRAFANA / "prometheus.yml")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS" in p.stdout + p.stderr


def test_promtool_check_metrics_on_live_exposition(session: Session):
    promtool = _tool("promtool")
    # the exposition after a real drag: every PDU, outcome, cause and histogram that the session produced
    assert "muxscope_rpc_latency_seconds_bucket" in session.metrics_text
    assert 'muxscope_rows_fetched_total{cause="resize"}' in session.metrics_text
    p = subprocess.run([promtool, "check", "metrics"], input=session.metrics_text,
                       capture_output=True, text=True, timeout=30)
    lint = (p.stdout + p.stderr).strip()
    assert p.returncode == 0 and not lint, f"promtool check metrics (exit {p.returncode}):\n{lint}"


def test_the_drag_was_scraped(session: Session):
    assert session.drag.report is not None
    # the drag really over-fetched, as Prometheus saw it
    fetched = [line for line in session.metrics_text.splitlines() if line.startswith("muxscope_rows_fetched_total")]
    # rows a window resize makes the client fetch: attributed to its own Resize or to the server's TabResized,
    # depending on which the attribution saw last (timing-dependent, so both count here)
    r = _query(session, 'sum(muxscope_rows_fetched_total{cause=~"resize|tab_resized"})')
    assert r["status"] == "success" and _values(r)[0] > 0, (r, fetched)
    r = _query(session, "sum(muxscope_resize_bursts_total)")
    assert r["status"] == "success" and _values(r)[0] >= 1, r
    r = _query(session, 'count(muxscope_rpc_latency_seconds_count{pdu="GetLines"})')
    assert r["status"] == "success" and _values(r) == [1.0], r


def test_every_dashboard_expression_returns_data(session: Session):
    dash = json.loads(DASHBOARD.read_text())
    variables = dashboard_variables(dash)
    failures: list[str] = []
    by_title: dict[str, list[float]] = {}
    n = 0
    for panel, target in dashboard_targets(dash):
        n += 1
        where = f"panel {panel['id']} {panel['title']!r} target {target.get('refId')}"
        expr = substitute(target["expr"], variables)
        assert "$" not in expr, f"{where}: unsubstituted variable in {expr!r}"
        r = _query(session, expr)
        if r.get("status") != "success":
            failures.append(f"{where}: {r.get('errorType')}: {r.get('error')}\n    {expr}")
            continue
        values = _values(r)
        if not values:
            failures.append(f"{where}: empty result\n    {expr}")
        elif not any(math.isfinite(v) for v in values):
            failures.append(f"{where}: only NaN/Inf {values}\n    {expr}")
        by_title.setdefault(panel["title"], []).extend(v for v in values if math.isfinite(v))
    assert n >= 20
    assert not failures, "\n".join(failures)
    # the headline panels show the over-fetching the drag caused, not just zeros
    for title in ("Fetch wait spent on over-fetched rows", "Rows fetched that were redundant or superseded",
                  "Mean resize burst settle time", "Fetch wait: over-fetch vs all (seconds)",
                  "Rows fetched per second by cause", "RPC latency p50 / p99 by PDU",
                  "Bytes on the wire per direction"):
        assert max(by_title[title]) > 0, (title, by_title[title])
    share = by_title["Fetch wait spent on over-fetched rows"][0]
    assert 0 < share <= 1, share


def test_dashboard_variables_resolve(session: Session):
    """The query variables' label_values(...) find the proxy (checked through the series API Grafana uses)."""
    dash = json.loads(DASHBOARD.read_text())
    variables = dashboard_variables(dash)
    found: dict[str, list[str]] = {}
    for name, var in variables.items():
        if var["type"] != "query":
            continue
        q = var["query"] if isinstance(var["query"], str) else var["query"]["query"]
        m = re.fullmatch(r"\s*label_values\((.+),\s*(\w+)\s*\)\s*", q)
        assert m, f"variable {name}: expected label_values(selector, label), got {q!r}"
        selector, label = substitute(m.group(1), variables), m.group(2)
        params = urllib.parse.urlencode({"match[]": selector, "start": f"{session.query_time - 300:.3f}",
                                         "end": f"{session.query_time:.3f}"})
        r = _get_json(f"{session.prom_url}/api/v1/label/{label}/values?{params}")
        assert r["status"] == "success", r
        assert r["data"], f"variable {name}: label_values({selector}, {label}) is empty"
        found[name] = r["data"]
    assert session.proxy_target in found["instance"]
    assert found["job"] == ["muxscope"]
    assert "GetLines" in found["pdu"]
