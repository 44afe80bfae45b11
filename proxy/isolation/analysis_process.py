"""The analysis process: chunks from the ring in; logs out; metrics and liveness back to the relay.

Started (and restarted) by the relay's supervisor (proxy/isolation/supervisor.py) as
``python -m proxy.isolation.analysis_process``, it runs everything that decodes: the stream decoder,
the line model, the attribution, the log events about PDUs and RPCs. Whatever a hostile
frame or a bug does here, it can only end this process; the relay counts that and starts
another, which resynchronises on the connections still open.

What goes back to the relay, one JSON object per line on the ``--back-fd`` pipe:
``{"hb": n, "lag": s}`` every 100 ms from the loop that handles chunks (so a decode that
hangs stops the heartbeat and the supervisor notices), ``{"metrics": text}`` every second
(the relay serves ``/metrics`` and must keep answering while this process is dead), and
``{"codec": v, "conn": id}`` once a connection's codec version is known (the capture, in
the relay's process, records it, and a restarted analysis starts decoding with it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from typing import Any

from proxy.analysis.analyzer import Analyzer
from proxy.analysis.connection import MAX_OBJECTS_PER_FRAME
from proxy.analysis.results import CodecVersionSeen, Result
from proxy.observe import logs
from proxy.relay.channel import Direction, Kind, Message, RingReader
from proxy.relay.relay import CLIENT_TO_SERVER, SERVER_TO_CLIENT
from proxy.relay.tap import TapEvent

HEARTBEAT_S = 0.1
METRICS_S = 1.0
FLUSH_S = 0.25
#: exit status after a MemoryError: the supervisor counts it as "memory", not "crash"
EXIT_OUT_OF_MEMORY = 3
_DIRECTIONS = {Direction.CLIENT_TO_SERVER: CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT: SERVER_TO_CLIENT}
_KINDS = {Kind.DATA: "data", Kind.OPEN: "open", Kind.CLOSE: "close", Kind.NOTE: "note"}


class _Back:
    """The pipe to the relay. A relay that is gone ends this process."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, obj: dict[str, Any]) -> None:
        data = (json.dumps(obj) + "\n").encode()
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except BrokenPipeError:
            os._exit(0)


class _CodecReporter:
    """A sink: tells the relay each connection's codec version as soon as the server announces it."""

    def __init__(self, back: _Back) -> None:
        self.back = back

    def __call__(self, result: Result) -> None:
        if isinstance(result, CodecVersionSeen) and isinstance(result.codec_version, int):
            self.back.send({"codec": result.codec_version, "conn": result.conn})


def to_event(msg: Message) -> TapEvent:
    if msg.kind == Kind.DATA:
        return TapEvent("data", msg.conn_id, msg.t_ns, _DIRECTIONS[msg.direction], msg.payload, msg.seq)
    info = json.loads(msg.payload) if msg.payload else {}
    return TapEvent(_KINDS[msg.kind], msg.conn_id, msg.t_ns, info=info)


class Worker:
    def __init__(self, args: argparse.Namespace) -> None:
        from prometheus_client import disable_created_metrics

        from proxy.analysis.attribution import AttributionAddon
        from proxy.observe.metrics import Metrics
        from proxy.observe.sinks import LogSink, MetricsSink, fan_out

        disable_created_metrics()  # half the exposition, and the relay re-serves all of it
        self.back = _Back(args.back_fd)
        self.ring = RingReader(args.ring_fd)
        self.metrics = Metrics(relay=False)
        self.log = logs.get_logger()
        self.attribution = AttributionAddon(burst_gap_s=args.burst_gap, client_model=args.client_model,
                                            local_echo_ms=args.local_echo_ms or None,
                                            prefetch_rate=args.prefetch_rate)
        sinks = fan_out([LogSink(), MetricsSink(self.metrics), _CodecReporter(self.back)])
        self.analyzer = Analyzer([self.attribution], args.codec_version, emit=sinks)
        self.analyzer.max_objects = MAX_OBJECTS_PER_FRAME
        self.handled = 0
        self.errors = 0
        self.parent = os.getppid()

    def run(self) -> int:
        last_hb = last_metrics = last_flush = 0.0
        while True:
            for msg in self.ring.drain():
                if msg.kind == Kind.STOP:
                    self._flush()
                    return 0
                self._handle(msg)
                now = time.monotonic()
                if now - last_hb >= HEARTBEAT_S:
                    self._heartbeat(msg.t_ns)
                    last_hb = now
            now = time.monotonic()
            if now - last_flush >= FLUSH_S:
                self._flush()
                last_flush = now
            if now - last_metrics >= METRICS_S:
                self._send_metrics()
                last_metrics = now
            if now - last_hb >= HEARTBEAT_S:
                self._heartbeat(None)
                last_hb = now
                if os.getppid() != self.parent:
                    return 0  # the relay is gone
            self.ring.wait(HEARTBEAT_S / 2)

    def _handle(self, msg: Message) -> None:
        try:
            self.analyzer.handle(to_event(msg))
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad event must not stop the analysis
            self.errors += 1
            if self.errors <= 20:
                self.log.error("analysis_error", conn=msg.conn_id, error=f"{type(exc).__name__}: {exc}")
        self.handled += 1

    def _heartbeat(self, t_ns: int | None) -> None:
        lag = (time.monotonic_ns() - t_ns) / 1e9 if t_ns else 0.0
        self.metrics.analysis_lag.set(lag)
        self.back.send({"hb": self.handled, "errors": self.errors, "lag": round(lag, 6)})

    def _send_metrics(self) -> None:
        from prometheus_client import generate_latest

        self.back.send({"metrics": generate_latest(self.metrics.registry).decode()})

    def _flush(self) -> None:
        with contextlib.suppress(Exception):
            self.analyzer.flush(time.monotonic_ns())
        logs.flush()


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m proxy.isolation.analysis_process", description=__doc__)
    p.add_argument("--ring-fd", type=int, required=True)
    p.add_argument("--back-fd", type=int, required=True)
    p.add_argument("--parent", type=int, default=0, help="the relay's pid: this process dies with it")
    p.add_argument("--memory-limit", type=int, default=0, help="address-space limit in bytes (RLIMIT_AS)")
    p.add_argument("--codec-version", type=int, default=None)
    p.add_argument("--client-model", default="wezterm")
    p.add_argument("--prefetch-rate", type=int, default=50)
    p.add_argument("--local-echo-ms", type=int, default=0, help="the local echo the analysis mirrors (0: off)")
    p.add_argument("--burst-gap", type=float, default=0.25)
    p.add_argument("--log", default="{}", help="logs.configure() keyword arguments, as JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    # Ctrl-C reaches the whole process group: the relay decides when this process ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    args = _parse(argv)
    if args.parent:
        from proxy.isolation.supervisor import confine_self

        confine_self(args.memory_limit, args.parent)
    logs.configure(**json.loads(args.log))
    worker = Worker(args)
    worker.log.debug("analysis_started", pid=os.getpid())
    try:
        return worker.run()
    except MemoryError:
        worker.analyzer.connections.clear()
        with contextlib.suppress(BaseException):
            worker.log.error("analysis_out_of_memory", hint="the relay restarts the analysis; raise --analysis-memory")
            logs.flush()
        return EXIT_OUT_OF_MEMORY


if __name__ == "__main__":
    sys.exit(main())
