"""The analysis's words: line states, causes, outcomes and client models, as enums.

They are ``StrEnum``s because each value is also a word users read: a JSON key in ``report --json``
and the emulated client's truth file, a log field, a Prometheus label value. A member compares equal
to its word and serialises as it, so the JSON, the logs and the metrics read exactly as before.
``repr`` is the word's too, so that a dict of counts keyed by members prints as it always did in
console logs.
"""

from __future__ import annotations

from enum import StrEnum


class _Word(StrEnum):
    def __repr__(self) -> str:
        return repr(self.value)


class LineState(_Word):
    """wezterm-client's ``LineEntry`` (wezterm-client/src/pane/renderable.rs)."""

    LINE = "Line"
    STALE = "Stale"
    FETCHING = "Fetching"
    LINE_AND_FETCHING = "LineAndFetching"


class Cause(_Word):
    """Why the client asked for a row: what made its entry stale or marked it for fetching."""

    DIRTY = "dirty"
    RESIZE = "resize"
    ZOOM = "zoom"
    PALETTE = "palette"
    TAB_RESIZED = "tab_resized"
    FIRST_VIEW = "first_view"
    UNEXPLAINED = "unexplained"


class Outcome(_Word):
    """What became of a fetched row. Over-fetch is ``REDUNDANT`` + ``SUPERSEDED``."""

    #: the client already held identical content
    REDUNDANT = "redundant"
    #: dropped on arrival: a push or a newer request replaced the entry while the fetch was out
    SUPERSEDED = "superseded"
    CHANGED = "changed"
    NEW = "new"


class Race(_Word):
    """What a push did to a row whose fetch was in flight when the client read it (a *raced* row:
    superseded whichever order the GUI applied the reply and the push in; README "Raced rows")."""

    #: the push carried the row as a bonus line
    DELIVERED = "delivered"
    #: the push named it dirty (or moved the cursor off or onto it): fetched again
    DIRTIED = "dirtied"
    #: the push dropped it (dirty above the new physical_top)
    DROPPED = "dropped"
    #: a SetPalette: every row of the pane made stale
    PALETTE = "palette"


class ClientModel(_Word):
    """The client fetch logic the line model mirrors."""

    #: wezterm-client as released
    WEZTERM = "wezterm"
    #: on a resize, stales only the rows a rewrap can alter (the emulator's ``--policy selective``)
    SELECTIVE = "selective"
    #: never asks again for a row in flight (the emulator's ``--policy coalesce``)
    COALESCE = "coalesce"


CAUSES: tuple[Cause, ...] = tuple(Cause)
OUTCOMES: tuple[Outcome, ...] = tuple(Outcome)
CLIENT_MODELS: tuple[ClientModel, ...] = tuple(ClientModel)
RACES: tuple[Race, ...] = tuple(Race)
#: the outcomes that count as over-fetch
OVERFETCH = frozenset({Outcome.REDUNDANT, Outcome.SUPERSEDED})
#: the invalidations a selective client answers with its rewrap rule instead of ``make_all_stale``
RESIZE_KINDS = frozenset({Cause.RESIZE, Cause.TAB_RESIZED})


def outcome(held: bytes | None, fingerprint: bytes, kept: bool) -> Outcome:
    """A fetched row's outcome from what the client held when it asked and whether it kept the reply."""
    if not kept:
        return Outcome.SUPERSEDED
    if held is None:
        return Outcome.NEW
    return Outcome.REDUNDANT if held == fingerprint else Outcome.CHANGED


def empty_rows() -> dict[Outcome, int]:
    """Row counts per outcome, all zero (keys are :class:`Outcome` members)."""
    return dict.fromkeys(OUTCOMES, 0)
