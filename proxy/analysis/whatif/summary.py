"""The report's ``what_if``: each policy's savings from the counts the analysis kept, with its model stated.

*debounce* is worked out here from the bursts: per burst, rows and fetch wait scale with the number
of Resize PDUs a debounce would still send (one per pause of at least the interval, plus the last).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from proxy.analysis.report_model import BurstSummary, DebounceSavings, PolicySavings, WhatIf
from proxy.analysis.tally import Tally

DEBOUNCE_WHAT_IFS_MS = (50, 100, 250)


#: how the what-ifs are worked out, stated in the report next to their figures
MODEL = (
    "Rows a policy would not have fetched, with the wait and wire bytes those rows were "
    "apportioned (by serialized size) in the recorded run. selective: a client that, on a "
    "resize, stales only the rows a rewrap to the new width can alter (rows of logical lines "
    "that were wrapped or are wider than the new width, and every held row below one whose row "
    "count may change; none when only the height changed) instead of every row, and otherwise "
    "behaves as WezTerm's: the rows requested because of a resize that this rule would not have "
    "staled, and get_lines' refetches of lines only such a fetch brought. coalesce: rows asked "
    "for again while a fetch for them sent after their last invalidation was still in flight or "
    "had been dropped (the wait and bytes are their share of all fetches). debounce: per "
    "burst, rows and fetch wait scale with the number of Resize PDUs still sent (one per pause "
    "of at least the debounce interval, plus the last)."
)


def what_if(total: Tally, bursts: Sequence[BurstSummary]) -> WhatIf:
    t = total
    sel = t.selective_saved
    coal_rows = t.coalescible_rows
    coal_share = coal_rows / t.rows_requested if t.rows_requested else 0.0
    coal_wait = t.fetch_wait_s * coal_share
    coal_bytes = sum(t.wire_bytes.values()) * coal_share
    return WhatIf(
        model=MODEL,
        selective=PolicySavings(sel.rows, round(sel.wait_s, 6), round(sel.wire_bytes)),
        coalesce=PolicySavings(coal_rows, round(coal_wait, 6), round(coal_bytes)),
        debounce=tuple(_debounce(ms, bursts) for ms in DEBOUNCE_WHAT_IFS_MS),
    )


def _debounce(ms: int, bursts: Sequence[BurstSummary]) -> DebounceSavings:
    """Per burst, rows and fetch wait scaled by the share of its Resize PDUs a debounce of ``ms`` drops."""
    saved_rows = saved_wait = 0.0
    sent_total = resizes_total = 0
    for b in bursts:
        offsets = b.resize_offsets_s
        n = len(offsets)
        if not n:
            continue
        sent = 1 + sum(1 for a, c in itertools.pairwise(offsets) if (c - a) * 1000 >= ms)
        frac = 1 - sent / n
        saved_rows += b.spend.rows_requested * frac
        saved_wait += b.spend.fetch_wait_s * frac
        sent_total += sent
        resizes_total += n
    return DebounceSavings(ms, sent_total, resizes_total, round(saved_rows), round(saved_wait, 6))
