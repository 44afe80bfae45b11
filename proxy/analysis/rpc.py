"""Request/response matching.

WezTerm's client numbers its requests with serials starting at 1 and the server
answers each with the same serial; serial 0 from the server is an unsolicited
push (``GetPaneRenderChangesResponse``, ``TabResized``, ...). Responses may
come back in any order, so pending requests are kept by serial.

Latency of an RPC = the time the response's last byte was read from upstream
minus the time the request's last byte was read from the client: what the
proxy can observe of the wait the client sees.
"""

from __future__ import annotations

from dataclasses import dataclass

from codec.pdu import Pdu
from proxy.analysis.connection import WireEvent

#: Pending requests older than this many newer requests are given up on, so a
#: server that never answers cannot grow the table without bound.
MAX_PENDING = 10_000


@dataclass(slots=True)
class Rpc:
    conn_id: int
    serial: int
    request: Pdu
    response: Pdu
    t_request_ns: int
    t_response_ns: int

    @property
    def latency_s(self) -> float:
        return (self.t_response_ns - self.t_request_ns) / 1e9


class RpcTracker:
    def __init__(self) -> None:
        self.pending: dict[int, tuple[Pdu, int]] = {}
        self.unmatched_responses = 0
        self.abandoned = 0
        self.completed = 0

    def on_event(self, ev: WireEvent) -> Rpc | None:
        pdu = ev.pdu
        if pdu is None:
            return None
        if ev.from_client:
            if pdu.serial > 0:
                if pdu.serial in self.pending:
                    self.abandoned += 1
                self.pending[pdu.serial] = (pdu, ev.t_ns)
                if len(self.pending) > MAX_PENDING:
                    oldest = next(iter(self.pending))
                    del self.pending[oldest]
                    self.abandoned += 1
            return None
        if pdu.serial == 0:
            return None
        entry = self.pending.pop(pdu.serial, None)
        if entry is None:
            self.unmatched_responses += 1
            return None
        self.completed += 1
        request, t_req = entry
        return Rpc(ev.conn_id, pdu.serial, request, pdu, t_req, ev.t_ns)
