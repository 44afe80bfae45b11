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
from typing import Any

OUTCOMES = ("redundant", "superseded", "changed", "new")
SUMMED = ("getlines", "rows_requested", "rows_returned", "overfetch_rows", "wire_bytes", "decompressed_bytes",
          "fetch_wait_s", "overfetch_wait_s", "fetch_wall_s", "overfetch_wall_s")


@dataclass(frozen=True)
class BurstTotals:
    """The bursts' counters added up, plus their settle time as wall-clock (union of windows)."""

    bursts: int
    resizes: int
    rows: dict[str, int]
    sums: dict[str, float]
    settle_s: float


def add_up(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum burst or spend summaries (the keys they share: see attribution._spend_summary)."""
    total: dict[str, Any] = {k: 0 for k in SUMMED}
    rows = dict.fromkeys(OUTCOMES, 0)
    for p in parts:
        for k in SUMMED:
            total[k] += p[k]
        for k in OUTCOMES:
            rows[k] += p["rows"][k]
    for k in SUMMED:
        if k.endswith("_s"):
            total[k] = round(total[k], 6)
    total["rows"] = rows
    return total


def settle_union_s(bursts: list[dict[str, Any]]) -> float:
    """Seconds covered by at least one burst's settle window, added up over connections."""
    by_conn: dict[int, list[tuple[float, float]]] = {}
    for b in bursts:
        by_conn.setdefault(b["conn"], []).append((b["t_first_s"], b["t_first_s"] + b["settle_s"]))
    total = 0.0
    for spans in by_conn.values():
        end = None
        for a, z in sorted(spans):
            if end is None or a > end:
                total += z - a
                end = z
            elif z > end:
                total += z - end
                end = z
    return total


def burst_totals(rep: dict[str, Any]) -> BurstTotals:
    listed = rep["bursts"]
    unlisted = rep.get("unlisted_bursts") or {"bursts": 0}
    parts = list(listed) + ([unlisted] if unlisted["bursts"] else [])
    sums = add_up(parts)
    settle = rep.get("settle_wall_s")  # counts the unlisted bursts too; absent from older reports
    return BurstTotals(len(listed) + unlisted["bursts"], sum(b["resizes"] for b in listed), sums.pop("rows"),
                       sums, settle if settle is not None else settle_union_s(listed))


def verdict(rep: dict[str, Any]) -> str:
    if rep["bursts"]:
        return _burst_verdict(rep, burst_totals(rep))
    fetched = sum(rep["rows"].values())
    if not fetched:
        return "No GetLines traffic in this capture: nothing to attribute."
    over = rep["rows"]["redundant"] + rep["rows"]["superseded"]
    return (f"No resizes in this capture; {100.0 * over / fetched:.0f}% of the {fetched} rows returned were "
            f"already on the client; the client waited {_wall(rep, 'overfetch')} s on them of "
            f"{_wall(rep, 'fetch')} s with GetLines outstanding (wall-clock).")


def _wall(rep: dict[str, Any], prefix: str) -> str:
    value = rep.get(f"{prefix}_wall_s")
    return seconds(value) if value is not None else "?"


def _burst_verdict(rep: dict[str, Any], t: BurstTotals) -> str:
    fetched = sum(t.rows.values())
    if not fetched:
        return (f"No over-fetching measured: {t.bursts} resize burst(s), but no GetLines rows came back "
                f"during them ({t.settle_s:.2f} s of settling).")
    over = t.rows["redundant"] + t.rows["superseded"]
    pct = 100.0 * over / fetched
    label = "Over-fetching" if pct >= 50 else "Some over-fetching" if pct >= 10 else "Little over-fetching"
    outside = rep.get("outside_bursts", {}).get("rows_returned", 0)
    tail = f"; {outside} more rows came outside bursts" if outside else ""
    bursts = f"{t.bursts} resize burst{'s' if t.bursts != 1 else ''}"
    return (f"{label}: {pct:.0f}% of rows fetched after resizes were already on the client "
            f"({t.rows['redundant']} redundant + {t.rows['superseded']} superseded of {fetched} rows returned in "
            f"{bursts}); the client waited {seconds(t.sums['overfetch_wall_s'])} s on them of the "
            f"{seconds(t.sums['fetch_wall_s'])} s it had GetLines outstanding, in {seconds(t.settle_s)} s of "
            f"settling (wall-clock){tail}.")


def seconds(value: float) -> str:
    """Seconds to the precision a reader needs: 2 decimals from 1 s up, 3 below."""
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"
