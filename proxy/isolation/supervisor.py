"""Runs the analysis process for the relay: starts it, watches it, restarts it, stops it.

The relay's process never decodes. It hands chunks to a ``python -m proxy.isolation.analysis_process``
child through a shared-memory ring (proxy/relay/ringtap.py) and reads its heartbeats,
metrics and codec-version reports from a pipe. The analysis is restarted when it

* exits (a crash, or a MemoryError against its address-space limit: ``RLIMIT_AS``),
* uses more resident memory than ``rss_limit`` (checked every 100 ms), or
* sends no heartbeat for ``hang_after_s`` (a decode that never ends).

Each restart is logged, counted (``muxscope_analysis_restarts_total{reason}``) and gets a
new ring; the connections still open are announced again with the codec version already
learnt, and the new analysis resynchronises on their next frame. Restarts back off (up to
5 s) so a peer that kills every analysis cannot make this process spin.

The child dies with this process (``PR_SET_PDEATHSIG``) and ignores SIGINT: the relay
decides when it ends (:meth:`stop`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import time
from enum import Enum
from typing import Any

from proxy.observe import logs
from proxy.observe.relay_metrics import RelayMetrics
from proxy.relay.channel import DEFAULT_CAPACITY, Direction, Kind, RingWriter, create_ring
from proxy.relay.ringtap import RingTap

DEFAULT_RSS_LIMIT = 160 * 1024 * 1024
DEFAULT_AS_LIMIT = 1024 * 1024 * 1024
HANG_AFTER_S = 3.0
CHECK_S = 0.1
MAX_BACKOFF_S = 5.0
EXIT_OUT_OF_MEMORY = 3  # proxy.isolation.analysis_process.EXIT_OUT_OF_MEMORY (not imported: it imports the codec)
_PR_SET_PDEATHSIG = 1
_M_MMAP_THRESHOLD = -3  # malloc.h
MMAP_THRESHOLD = 1 << 20
#: the analysis runs at a lower CPU priority than the relay (see confine_self)
ANALYSIS_NICE = 10


class Restart(Enum):
    CRASH = "crash"
    HANG = "hang"
    MEMORY = "memory"


def confine_self(as_limit: int, parent: int) -> None:
    """Called first thing in the analysis process: die with the relay, cap the address space,
    yield the CPU to the relay, give large freed blocks back to the OS.

    (Done by the child itself rather than in a ``preexec_fn``: the relay's process has threads,
    and running Python between fork and exec there can deadlock.)"""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the relay died before the prctl
        os._exit(0)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (as_limit, as_limit))
    with contextlib.suppress(OSError):
        os.nice(ANALYSIS_NICE)  # on a busy machine the relay gets the CPU first; the analysis drops
    with contextlib.suppress(Exception):
        # glibc: blocks of 1 MiB and more (inflated payloads, decoded line buffers) are mmapped, so
        # freeing them returns them to the OS; left to itself the threshold climbs to 32 MiB after
        # the first big free, and a burst of large frames leaves the heap (and the RSS the
        # supervisor restarts on) high long after
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class AnalysisSupervisor:
    def __init__(self, tap: RingTap, metrics: RelayMetrics, worker_args: list[str], *,
                 ring_capacity: int = DEFAULT_CAPACITY, rss_limit: int = DEFAULT_RSS_LIMIT,
                 as_limit: int = DEFAULT_AS_LIMIT, hang_after_s: float = HANG_AFTER_S) -> None:
        self.tap = tap
        self.metrics = metrics
        self.worker_args = worker_args
        self.ring_capacity = ring_capacity
        self.rss_limit = rss_limit
        self.as_limit = as_limit
        self.hang_after_s = hang_after_s
        self.log = logs.get_logger()
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts: dict[Restart, int] = dict.fromkeys(Restart, 0)
        self.codec_versions: dict[int, int] = {}
        self._back_fd: int | None = None
        self._back_buf = b""
        self._last_hb = 0.0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._backoff = 0.0

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        self._spawn()
        self._task = asyncio.get_running_loop().create_task(self._watch())

    def _spawn(self) -> None:
        ring_fd = create_ring(self.ring_capacity)
        back_r, back_w = os.pipe()
        cmd = [sys.executable, "-m", "proxy.isolation.analysis_process", "--ring-fd", str(ring_fd),
               "--back-fd", str(back_w), "--parent", str(os.getpid()), "--memory-limit", str(self.as_limit),
               *self.worker_args]
        try:
            self.proc = subprocess.Popen(
                cmd, pass_fds=(ring_fd, back_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            )
            self.tap.replace_ring(RingWriter(ring_fd))
        finally:
            os.close(ring_fd)
            os.close(back_w)
        self._back_fd = back_r
        self._back_buf = b""
        os.set_blocking(back_r, False)
        asyncio.get_running_loop().add_reader(back_r, self._read_back)
        self._last_hb = time.monotonic()
        self.metrics.analysis_up.set(1)
        self.codec_versions = {c: v for c, v in self.codec_versions.items() if c in self.tap.live}
        for conn_id, info in self.tap.live.items():  # a restart: announce what is still open
            self.tap.announce(conn_id, {**info, "resumed": True, "codec_version": self.codec_versions.get(conn_id)})

    # -- watching ------------------------------------------------------------------------
    async def _watch(self) -> None:
        while not self._stopping:
            await asyncio.sleep(CHECK_S)
            self.tap.flush_backlog()
            proc = self.proc
            if proc is None:
                continue
            reason = self._check(proc)
            if reason is None:
                self._backoff = 0.0 if time.monotonic() - self._last_hb < 1 else self._backoff
                continue
            status = self._reap(proc)
            self.restarts[reason] += 1
            self.metrics.analysis_restarts.labels(reason.value).inc()
            self.log.error("analysis_restarted", reason=reason.value, exit_status=status,
                           restarts=sum(self.restarts.values()), backoff_s=self._backoff,
                           hint="relayed connections were not affected; the analysis resynchronises")
            await asyncio.sleep(self._backoff)
            self._backoff = min(MAX_BACKOFF_S, self._backoff * 2 or 0.1)
            if not self._stopping:
                self._spawn()

    def _check(self, proc: subprocess.Popen[bytes]) -> Restart | None:
        status = proc.poll()
        if status is not None:
            return Restart.MEMORY if status == EXIT_OUT_OF_MEMORY else Restart.CRASH
        rss = rss_bytes(proc.pid)
        self.metrics.analysis_rss.set(rss)
        if rss > self.rss_limit:
            return Restart.MEMORY
        if time.monotonic() - self._last_hb > self.hang_after_s:
            return Restart.HANG
        return None

    def _reap(self, proc: subprocess.Popen[bytes]) -> int | None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        status = proc.wait()
        self._close_back()
        self.tap.replace_ring(None)
        self.metrics.analysis_up.set(0)
        self.proc = None
        return status

    def _close_back(self) -> None:
        if self._back_fd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._back_fd)
            os.close(self._back_fd)
            self._back_fd = None

    def _read_back(self) -> None:
        try:
            data = os.read(self._back_fd, 1 << 16) if self._back_fd is not None else b""
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_back()
            return
        *lines, self._back_buf = (self._back_buf + data).split(b"\n")
        if len(self._back_buf) > 8 << 20:
            self._back_buf = b""  # no line is that long: the child is misbehaving
        for line in lines:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                self._on_message(json.loads(line))

    def _on_message(self, msg: dict[str, Any]) -> None:
        self._last_hb = time.monotonic()
        if "hb" in msg:
            self.tap.consumed = int(msg["hb"])
        elif "metrics" in msg:
            self.metrics.set_analysis_exposition(str(msg["metrics"]))
        elif "codec" in msg:
            conn_id, version = int(msg["conn"]), int(msg["codec"])
            if conn_id in self.tap.live and self.codec_versions.get(conn_id) != version:
                self.codec_versions[conn_id] = version
                self.tap.note_capture(conn_id, {"codec_version": version})

    # -- stopping ----------------------------------------------------------------------
    async def stop(self, budget_s: float) -> None:
        """Let the analysis finish what it has for at most ``budget_s``, then end it regardless."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        proc = self.proc
        if proc is None:
            return
        deadline = time.monotonic() + max(0.0, budget_s)
        sent = False
        while proc.poll() is None and time.monotonic() < deadline:
            if not sent and self.tap.flush_backlog() and self.tap.ring is not None:
                sent = self.tap.ring.put(Kind.STOP, Direction.NONE, 0, 0, time.monotonic_ns(), b"")
            await asyncio.sleep(0.01)
        if proc.poll() is None and self.tap.put_chunks:  # (nothing relayed, nothing lost: e.g. a failed start)
            self.log.warning("analysis_stopped_unfinished", queued_bytes=self.tap.queued_bytes,
                             hint="the analysis did not finish within the shutdown budget; its last events are lost")
        self._reap(proc)
