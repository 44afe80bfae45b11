"""The one-line verdict, and the figures it is built from, so that the tables can show the same sums.

The verdict answers the question muxscope exists for: of the rows the client
fetched because of resizes, how many it already had, and how long it waited
on them. Every number in it is a sum over the burst table's rows (or, with no
resize, over the totals), so a reader can check it against the tables.

Waits are wall-clock: the time the client had at least one GetLines
outstanding, shared among concurrent fetches (see proxy/analysis/attribution.py).
Settling is the union of the bursts' settle windows per connection, so
overlapping bursts are not counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from proxy.analysis.report_model import Report, SpendSummary, add_up


@dataclass(frozen=True)
class BurstTotals:
    """The bursts' counters added up, plus their settle time as wall-clock (union of windows)."""

    bursts: int
    resizes: int
    sums: SpendSummary
    settle_s: float


def burst_totals(rep: Report) -> BurstTotals:
    listed = rep.bursts
    unlisted = rep.unlisted_bursts
    parts = [b.spend for b in listed] + ([unlisted.spend] if unlisted.bursts else [])
    # settle_wall_s counts the unlisted bursts too
    return BurstTotals(len(listed) + unlisted.bursts, sum(b.resizes for b in listed), add_up(parts),
                       rep.settle_wall_s)


def verdict(rep: Report) -> str:
    if rep.bursts:
        return _burst_verdict(rep, burst_totals(rep))
    fetched = rep.rows.total()
    if not fetched:
        return "No GetLines traffic in this capture: nothing to attribute."
    over = rep.rows.overfetch
    return (f"No resizes in this capture; {100.0 * over / fetched:.0f}% of the {fetched} rows returned were "
            f"already on the client; the client waited {seconds(rep.overfetch_wall_s)} s on them of "
            f"{seconds(rep.fetch_wall_s)} s with GetLines outstanding (wall-clock).")


def _burst_verdict(rep: Report, t: BurstTotals) -> str:
    rows = t.sums.rows
    fetched = rows.total()
    if not fetched:
        return (f"No over-fetching measured: {t.bursts} resize burst(s), but no GetLines rows came back "
                f"during them ({t.settle_s:.2f} s of settling).")
    over = rows.overfetch
    pct = 100.0 * over / fetched
    label = "Over-fetching" if pct >= 50 else "Some over-fetching" if pct >= 10 else "Little over-fetching"
    outside = rep.outside_bursts.rows_returned
    tail = f"; {outside} more rows came outside bursts" if outside else ""
    bursts = f"{t.bursts} resize burst{'s' if t.bursts != 1 else ''}"
    return (f"{label}: {pct:.0f}% of rows fetched after resizes were already on the client "
            f"({rows.redundant} redundant + {rows.superseded} superseded of {fetched} rows returned in "
            f"{bursts}); the client waited {seconds(t.sums.overfetch_wall_s)} s on them of the "
            f"{seconds(t.sums.fetch_wall_s)} s it had GetLines outstanding, in {seconds(t.settle_s)} s of "
            f"settling (wall-clock){tail}.")


def seconds(value: float) -> str:
    """Seconds to the precision a reader needs: 2 decimals from 1 s up, 3 below."""
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"
