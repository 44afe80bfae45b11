"""The verdict: one sentence that answers the question muxscope exists for, with numbers."""

from __future__ import annotations

from typing import Any


def verdict(rep: dict[str, Any]) -> str:
    bursts = rep["bursts"]
    if bursts:
        rows: dict[str, int] = {"redundant": 0, "superseded": 0, "changed": 0, "new": 0}
        for b in bursts:
            for k in rows:
                rows[k] += b["rows"][k]
        fetched = sum(rows.values())
        settle = sum(b["settle_s"] for b in bursts)
        busy = sum(b["fetch_busy_s"] for b in bursts)
        wait = sum(b["fetch_wait_s"] for b in bursts)
        over_wait = sum(b["overfetch_wait_s"] for b in bursts)
        if not fetched:
            return (f"No over-fetching measured: {len(bursts)} resize burst(s), but no GetLines rows came back "
                    f"during them ({settle:.1f} s settle time).")
        over = rows["redundant"] + rows["superseded"]
        pct = 100.0 * over / fetched
        waited = busy * (over_wait / wait) if wait else 0.0
        label = "Over-fetching" if pct >= 50 else "Some over-fetching" if pct >= 10 else "Little over-fetching"
        return (f"{label}: {pct:.0f}% of rows fetched after resizes were already on the client "
                f"({rows['redundant']} redundant, {rows['superseded']} superseded of {fetched}); "
                f"{waited:.1f} s of the {settle:.1f} s settle time waited on them.")
    fetched = sum(rep["rows"].values())
    if not fetched:
        return "No GetLines traffic in this capture: nothing to attribute."
    over = rep["rows"]["redundant"] + rep["rows"]["superseded"]
    return (f"No resizes in this capture; {100.0 * over / fetched:.0f}% of the {fetched} rows fetched were "
            f"already on the client, {rep['overfetch_wait_s']:.2f} s of {rep['fetch_wait_s']:.2f} s fetch wait.")


