"""What an emulated client run reports: the counters, the settled screen, the ground truth.

Assembled here, apart from :mod:`.client`, because it is read by people and by
tests (``client_cli`` prints it, ``--json`` dumps it), while the client itself
only keeps the counters it is built from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from muxscope_emulator.client import EmulatedClient


@dataclass
class ClientReport:
    scenario: str
    policy: str
    #: requests sent, by PDU name
    rpcs: dict[str, int]
    rows_fetched: int
    rows_discarded: int
    #: from the last resize/action to the settled screen; None if it never settled
    settle_time_s: float | None
    settled: bool
    #: viewport text rows per remote pane id, after settling
    screen: dict[int, list[str]]
    #: viewport {stable_row: fingerprint hex} per remote pane id
    screen_fingerprints: dict[int, dict[int, str]]
    truth: dict[str, Any]
    rows_fetched_scenario: int = 0
    pushes: int = 0
    resizes_sent: int = 0
    max_inflight_per_row: int = 0
    #: rows that waited for a fetch already in flight (``--policy coalesce``)
    coalesced_rows: int = 0
    #: rows asked for again while a still-valid fetch for them was in flight or had its reply
    #: dropped (what coalescing saves)
    refetched_in_flight: int = 0
    #: rows fetched because of a resize that the selective policy would not have staled (what it saves)
    selective_saved_rows: int = 0
    throttled_pushes: int = 0
    #: the GUI thread (:mod:`.guiqueue`): its order, replies applied while a push read before them
    #: waited, paints, and the rows that raced a push (counted superseded, :mod:`.racetruth`)
    gui_order: str = "queue"
    replies_before_push: int = 0
    paints: int = 0
    raced_rows: int = 0
    #: raced rows the client stored (it applied the reply before the push): counted superseded
    raced_kept_rows: int = 0
    errors: list[str] = field(default_factory=list)
    #: divider drags and zooms (:mod:`.clienttabs`): Resizes the user's action sent, Resizes a listing
    #: made the client send (fed back), and where the divider ended against the pointer
    splits: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "policy": self.policy,
            "rpcs": dict(sorted(self.rpcs.items())),
            "rows_fetched": self.rows_fetched,
            "rows_fetched_scenario": self.rows_fetched_scenario,
            "rows_discarded": self.rows_discarded,
            "settle_time_s": self.settle_time_s,
            "settled": self.settled,
            "pushes": self.pushes,
            "resizes_sent": self.resizes_sent,
            "max_inflight_per_row": self.max_inflight_per_row,
            "coalesced_rows": self.coalesced_rows,
            "refetched_in_flight": self.refetched_in_flight,
            "selective_saved_rows": self.selective_saved_rows,
            "throttled_pushes": self.throttled_pushes,
            "gui_order": self.gui_order,
            "replies_before_push": self.replies_before_push,
            "paints": self.paints,
            "raced_rows": self.raced_rows,
            "raced_kept_rows": self.raced_kept_rows,
            "screen": {str(k): v for k, v in self.screen.items()},
            "errors": self.errors,
            "splits": self.splits,
            "truth": self.truth,
        }


def build_report(client: EmulatedClient, settle: float | None, scenario_rows: int) -> ClientReport:
    """The report of a finished run: its counters, the settled screen, and the ground truth."""
    assert client.conn is not None
    panes = client.visible_panes()
    return ClientReport(
        scenario=client.options.scenario,
        policy=str(client.policy),
        rpcs=dict(client.conn.sent),
        rows_fetched=client.rows_fetched,
        rows_discarded=client.rows_discarded,
        settle_time_s=None if settle is None else round(settle, 4),
        settled=settle is not None,
        screen={p.remote_pane_id: p.screen() for p in panes},
        screen_fingerprints={p.remote_pane_id: p.screen_fingerprints() for p in panes},
        truth=client.truth.to_json(),
        rows_fetched_scenario=scenario_rows,
        pushes=sum(p.stats.pushes for p in client.panes.values()),
        resizes_sent=client.resizes_sent,
        max_inflight_per_row=max((p.stats.max_inflight_per_row for p in client.panes.values()), default=0),
        coalesced_rows=sum(p.stats.coalesced_rows for p in client.panes.values()),
        refetched_in_flight=sum(p.stats.refetched_in_flight for p in client.panes.values()),
        selective_saved_rows=sum(p.selective_saved_rows() for p in client.panes.values()),
        throttled_pushes=sum(p.stats.throttled_pushes for p in client.panes.values()),
        gui_order=client.options.gui_order,
        replies_before_push=client.gui.stats.replies_before_push if client.gui is not None else 0,
        paints=client.gui.stats.paints if client.gui is not None else 0,
        raced_rows=len(client.truth.raced),
        raced_kept_rows=client.race.discarded,
        errors=list(client.errors),
        splits=_splits(client),
    )


def _splits(client: EmulatedClient) -> dict[str, Any]:
    """The split figures: Resizes by who asked, and the divider's end against the pointer."""
    stats = client.split_stats
    tab = client.shown_tab()
    sizes = {str(p): [s["cols"], s["rows"]] for p, s in tab.tree.pane_sizes()} if tab is not None else {}
    return {"user_resizes": stats.user, "fed_back_resizes": stats.fed_back, "moves": stats.moves,
            "pointer": stats.pointer, "divider_offset": client.divider_offset(), "pane_sizes": sizes}
