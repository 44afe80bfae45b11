"""The selective what-if: a client that, on a resize, stales only the rows a rewrap can alter.

The rule (:func:`codec.lines.rewrap_rows`): rows of logical lines that were wrapped or are wider
than the new width, and every held row below one whose row count may change; nothing when only the
height changed. Entries carry ``selective_stale`` (such a client would hold the row stale too) and
``selective_echo`` (the held line came from a fetch such a client would not have made).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codec.lines import rewrap_rows
from proxy.analysis.linestate import LINE, STALE, Entry
from proxy.analysis.vocabulary import RESIZE_KINDS, Cause

if TYPE_CHECKING:
    from proxy.analysis.linemodel import PaneLines


def rows_a_rewrap_alters(pane: PaneLines, kind: Cause, cols: int | None, changed: list[tuple[int, Entry]]) -> set[int]:
    """The rows of ``changed`` a selective client would stale for this invalidation: for a resize
    to a known width from a known one, those :func:`codec.lines.rewrap_rows` names (none when the
    width did not change); for any other invalidation, all of them."""
    if kind not in RESIZE_KINDS or cols is None or pane.cols is None:
        return {row for row, _ in changed}
    if cols == pane.cols:
        return set()
    held = sorted((row, e.facts.get() if e.facts is not None else None)
                  for row, e in pane.entries.items() if e.fingerprint is not None)
    return set(rewrap_rows(held, cols))


def would_skip(pane: PaneLines, row: int, cause: Cause) -> bool:
    """Would a selective client not have asked for ``row`` here? Not for a resize its rewrap rule
    let pass (unless get_lines would refetch the line anyway, being newer than the pane's seqno),
    nor for get_lines' refetch of a line only such a saved fetch brought."""
    e = pane.entries.get(row)
    if e is None:
        return False
    if cause in RESIZE_KINDS:
        return not e.selective_stale and not pane.changed(e)
    return cause == Cause.DIRTY and e.selective_echo and e.state in (LINE, STALE)
