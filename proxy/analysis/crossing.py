"""Pushes and requests that cross on the wire, and how the line model puts them back in order.

The proxy relays a push before a request comes up, yet the client may have written the request
before it read the push. Pushes since the client's last GetLines on a pane are therefore kept in a
short log (:class:`LoggedEvent`), with the client's Resize, SetPaneZoomed and SendKeyDown and the
server's SetPalette in between, each with what it changed. Each rule below is one piece of wire
evidence that a request crossed a logged push; :func:`first_crossed` applies them in order.
They err towards missing a crossing, never towards inventing one: a crossing with no evidence
stays as the wire shows it (rare: a busy client, a request for a few rows; see tests/integration/test_truth.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from proxy.analysis.linestate import LINE, Entry, Push
from proxy.analysis.vocabulary import Cause

if TYPE_CHECKING:
    from proxy.analysis.linemodel import PaneLines

#: how long after a push a request may still have crossed it: far above the few milliseconds a
#: client takes to read what is already in its socket, far below human timescales
CROSSING_WINDOW_NS = 500_000_000
#: at most this many events are kept for reordering (a pane streaming output between requests)
MAX_CROSSING_EVENTS = 64
#: a request that reaches the proxy sooner than this after a push cannot be the client's doing
#: after reading it: the push had still to reach the client, be read and acted on, and the request
#: to come back (loopback round trip plus a client's wake-up and decoding). The proxy stamps a push
#: when it relays it, and any delay in reading the request only widens the gap, so the rule errs
#: only towards missing a crossing, never towards inventing one.
MIN_CLIENT_REACTION_NS = 100_000

#: the pane's scalars a logged event restores: seqno, physical_top, cursor, push-stamped rows,
#: input serial, width, last input round trip (ms), the prefetch limiter's theoretical arrival time
Scalars = tuple[int, int, Any, frozenset[int], int, int | None, int, int | None]


@dataclass(slots=True)
class LoggedEvent:
    """One event of the reorder log and what it changed, so it can be taken back and applied
    again in the client's order: a push, a make_all_stale (from the server: SetPalette; from the
    client: Resize, SetPaneZoomed), or a SendKeyDown's input serial (client)."""

    t_ns: int
    from_client: bool
    rows: dict[int, Entry | None]
    evicted: dict[int, Cause | None]
    scalars: Scalars
    push: Push | None = None
    stale_kind: Cause | None = None
    input_serial: int | None = None
    #: a SendKeyDown's key and modifiers (the local echo predicts from them again when redone)
    key: tuple[str | None, int] | None = None
    #: the width a Resize asked for
    cols: int | None = None
    #: for the coalescing what-if: the rows' and the pane's last invalidation before this event
    invalid_from: dict[int, int] = field(default_factory=dict)
    stale_from: int = 0


# -- the evidence, one rule each ----------------------------------------------------------------


def follows_crossed_request(pane: PaneLines, t_ns: int) -> bool:
    """Written right after a request that crossed these pushes, too soon to have read them since."""
    return pane.crossed_at is not None and t_ns - pane.crossed_at < MIN_CLIENT_REACTION_NS


def continues_crossed_walk(pane: PaneLines, rows: list[int], last_push: Push) -> bool:
    """The next step up of a one-row logical-line walk that crossed them (a client that had read
    the pushes would start its walk again, at the row above the new top)."""
    return (
        pane.crossed_walk_row is not None
        and len(rows) == 1
        and rows[0] == pane.crossed_walk_row - 1
        and rows[0] != last_push.physical_top - 1
    )


def too_soon_after(push: Push, t_ns: int) -> bool:
    """Too soon after the push to be an answer to it (:data:`MIN_CLIENT_REACTION_NS`)."""
    return t_ns - push.t_ns < MIN_CLIENT_REACTION_NS


def walks_above_old_top(rows: list[int], top_before: int, push: Push) -> bool:
    """The first step of the logical-line walk above the old top (mux pane.rs get_logical_lines):
    the client still painted from there."""
    return push.physical_top != top_before and set(rows) == {top_before - 1}


def paints_from_old_top_across_new(rows: list[int], top_before: int, push: Push) -> bool:
    """A screen painted from the old top, across the new one: the top moved by too few rows for
    :func:`paints_old_screen_band` to see two of them (like that rule, it would misread a client
    scrolled back to exactly the old top)."""
    return len(rows) > 1 and min(rows) == top_before < push.physical_top <= max(rows)


def paints_old_screen_band(rows: list[int], top_before: int, push: Push) -> bool:
    """Two or more rows of the screen as it was before the push moved ``physical_top`` past them:
    a client that had read the push would paint from the new top. (Single rows above the top are
    the logical-line walk of a client that has read it; a client scrolled back into that band
    during a rewrap is the rare exception this rule gets wrong.)"""
    return sum(1 for row in set(rows) if top_before <= row < push.physical_top) > 1


def walk_from_new_top_reaches(pane: PaneLines, row: int, new_top: int) -> bool:
    """A client that had read every push walks up from the newest top over the lines it holds
    without asking for them, and asks first for the row above them: a one-row request further up
    than ``new_top - 1`` is then no evidence of a crossing, even at an old top's row above (seen
    at 200 lines/s of output during a drag: a request for the row above the old top that was the
    third step of a walk from the new one, the two rows between held)."""
    return row < new_top - 1 and all(
        (e := pane.entries.get(r)) is not None and e.fingerprint is not None for r in range(row + 1, new_top))


#: the rules that point at one push, in the order they are tried
PUSH_RULES = (too_soon_after, walks_above_old_top, paints_from_old_top_across_new, paints_old_screen_band)


def asks_for_line_push_delivered(pane: PaneLines, row: int, by_seq: dict[int, int]) -> int | None:
    """The row is a line a logged push delivered and the client would hold up to date (WezTerm
    never asks for such a row): the index of that push, or of the first of several logged pushes
    that each delivered it up to date (the client read none of them)."""
    e = pane.entries.get(row)
    if e is None or e.state != LINE or e.delivered_seq not in by_seq or pane.changed(e):
        return None
    found = None
    while e is not None and e.state == LINE and e.delivered_seq in by_seq:
        found = by_seq[e.delivered_seq]
        u = pane.recent[found]
        e = u.rows.get(row)
        if e is not None and (e.seqno == 0 or e.seqno > u.scalars[0]):
            break
    return found


def _push_rule_hit(rule: Any, rows: list[int], top_before: int, push: Push, t_ns: int) -> bool:
    return rule(push, t_ns) if rule is too_soon_after else rule(rows, top_before, push)


def first_crossed(pane: PaneLines, rows: list[int], t_ns: int) -> int | None:
    """Index in ``pane.recent`` of the first push a request for ``rows`` at ``t_ns`` crossed."""
    recent = pane.recent
    pushes = [(i, u.push) for i, u in enumerate(recent) if u.push is not None and t_ns - u.t_ns <= CROSSING_WINDOW_NS]
    if not pushes or not rows:
        return None
    first = None
    if follows_crossed_request(pane, t_ns):
        first = pushes[0][0]
        if held_up_to_date_before(pane, rows, first):
            first = None
    elif continues_crossed_walk(pane, rows, pushes[-1][1]):
        # Once the last step's reply has been relayed, the step is taken to have waited for it
        # (it must, for a row it never held), having read what came before it on the one stream:
        # it crossed only later pushes. A step over held rows that did not wait is then missed,
        # the side this model errs on.
        after = pane.crossed_walk_reply_seq
        first = next((i for i, push in pushes if after is None or push.seq > after), None)
    skip = (walks_above_old_top,) if len(rows) == 1 and walk_from_new_top_reaches(
        pane, rows[0], pushes[-1][1].physical_top) else ()
    hit = _first_push_rule_hit(recent, pushes, rows, t_ns, skip)
    if hit is not None and (hit[1] is walks_above_old_top or not held_up_to_date_before(pane, rows, hit[0])):
        first = hit[0]
    first = after_push_that_set_the_top(recent, pushes, rows, first)
    by_seq = {push.seq: i for i, push in pushes}
    for row in rows:
        i = asks_for_line_push_delivered(pane, row, by_seq)
        if i is not None:
            first = i if first is None else min(first, i)
    return first


def after_push_that_set_the_top(recent: list[LoggedEvent], pushes: list[tuple[int, Push]], rows: list[int],
                                first: int | None) -> int | None:
    """A request for two or more rows from a ``physical_top`` that a logged push moved the screen to
    is a paint of the screen that push made: the client had read it, so it crossed at most the
    pushes after it. Seen when the proxy, busy, read two requests the client wrote milliseconds
    apart at one time (``follows_crossed_request`` then took the second for a crossing too)."""
    if first is None or len(rows) < 2:
        return first
    top = min(rows)
    setters = [k for k, (i, push) in enumerate(pushes) if push.physical_top == top and recent[i].scalars[1] != top]
    if not setters or pushes[setters[-1]][0] < first:
        return first
    later = pushes[setters[-1] + 1 :]
    return later[0][0] if later else None


def held_up_to_date_before(pane: PaneLines, rows: list[int], first: int) -> bool:
    """Every requested row was, before the log's event ``first``, a line the client held up to date:
    a client that had not read that push would have had no reason to ask (WezTerm never asks for
    such a row), so a rule's guess that it crossed is wrong. Seen at hundreds
    of pushes a second: a push's own prefetch written microseconds after a request that did cross
    it. (``walks_above_old_top`` keeps its verdict: tests/unit/test_attribution.py has such a walk
    over a row held up to date.)"""
    recent = pane.recent
    if any(u.from_client for u in recent[first:]):
        return False  # (a Resize since may have made them stale: the client's order is not known)
    seqno = recent[first].scalars[0]
    for row in rows:
        before = next((u.rows[row] for u in recent[first:] if row in u.rows), pane.entries.get(row))
        if before is None or before.state != LINE or before.seqno == 0 or before.seqno > seqno:
            return False
    return bool(rows)


def _first_push_rule_hit(recent: list[LoggedEvent], pushes: Iterable[tuple[int, Push]], rows: list[int],
                         t_ns: int, skip: tuple[Any, ...] = ()) -> tuple[int, Any] | None:
    """The first logged push a rule points at, and the rule."""
    rules = [rule for rule in PUSH_RULES if rule not in skip]
    for i, push in pushes:
        top_before = recent[i].scalars[1]
        for rule in rules:
            if _push_rule_hit(rule, rows, top_before, push, t_ns):
                return i, rule
    return None


def take_back(pane: PaneLines, first: int) -> list[LoggedEvent]:
    """Undo the log from ``first`` on (oldest first in the list returned), unless a reply in
    between touched the requested rows or the undone ones: its outcome is final."""
    undone = pane.recent[first:]
    for undo in reversed(undone):
        for row, prior in undo.rows.items():
            if prior is None:
                pane.entries.pop(row, None)
            else:
                pane.entries[row] = prior
        for row, cause in undo.evicted.items():
            if cause is None:
                pane.evicted.pop(row, None)
            else:
                pane.evicted[row] = cause
        pane.restore_scalars(undo.scalars)
        pane.coalesce.restore(undo)
    del pane.recent[first:]
    return undone


def reply_in_between(pane: PaneLines, rows: list[int], first: int) -> bool:
    """A reply since the first crossed push touched the requested rows or the rows the undone
    events changed: the order is no longer the model's to change."""
    undone = pane.recent[first:]
    return not pane.responded.isdisjoint(rows) or any(not pane.responded_kept.isdisjoint(u.rows) for u in undone)


def note_chunk(pane: PaneLines, t_ns: int) -> list[LoggedEvent]:
    """The logged pushes that earlier requests of the same read of the client's socket (the proxy
    read them at the same instant as this one) committed: kept across those commits."""
    if pane.chunk_log is None or pane.chunk_log[0] != t_ns:
        pane.chunk_log = (t_ns, [])
    seen = pane.chunk_log[1]
    earlier = [u for u in seen if all(u is not v for v in pane.recent)]
    seen.extend(u for u in pane.recent if u.push is not None and all(u is not v for v in seen))
    return earlier


def delivered_in_chunk(pane: PaneLines, rows: list[int], chunk: list[LoggedEvent],
                       t_ns: int) -> dict[int, Entry | None]:
    """Rows the client asks for that it would hold up to date had it read a push an earlier request
    of the same read already committed (WezTerm never asks for such a row): it wrote this request
    before taking that push in, as a busy client does when it handles several pushes of one read
    and sends each one's prefetch at once. Row -> the entry before that push."""
    committed = {u.push.seq: u for u in chunk if u.push is not None and t_ns - u.t_ns <= CROSSING_WINDOW_NS}
    out: dict[int, Entry | None] = {}
    for row in rows:
        e = pane.entries.get(row)
        if e is None or e.state != LINE or pane.changed(e) or e.delivered_seq not in committed:
            continue
        # back past every push of the read that delivered it up to date: the client read none of them
        before: Entry | None = e
        while before is not None and before.state == LINE and before.delivered_seq in committed:
            u = committed[before.delivered_seq]
            before = u.rows.get(row)
            if before is not None and (before.state != LINE or before.seqno == 0 or before.seqno > u.scalars[0]):
                break
        out[row] = before
    return out


def cause_before(pane: PaneLines, row: int, before: Entry | None, seqno: int) -> Cause:
    """Why the client asked for ``row`` holding ``before`` (``PaneLines.cause_of`` at ``seqno``)."""
    if before is None:
        return pane.evicted.get(row, Cause.FIRST_VIEW)
    if before.state == LINE:
        return Cause.DIRTY if before.seqno == 0 or before.seqno > seqno else Cause.UNEXPLAINED
    return before.cause
