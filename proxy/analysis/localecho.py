"""Predictive local echo, mirrored from the wire: the PREDICT transition of the line model.

Over an SSH or TLS domain wezterm-client echoes keys locally once the link is slow
(``wezterm-client/src/pane/renderable.rs``, WezTerm 4ff581a8; docs/wezterm-behaviour.md):

* it measures the input round trip from the ``input_serial`` a push carries
  (``last_input_rtt``, :330-334) and predicts only while that is at least
  ``local_echo_threshold_ms`` (``should_predict``, :138-143; 100 ms by default for SSH and
  TLS domains, config/src/config.rs:1736; off for unix domains, config/src/unix.rs:55-57);
* on a key press (``predict_from_key_event``, :212-248) it edits the cursor row: a ``Line``
  or ``Stale`` entry becomes ``Line`` (a Stale row is then *not fetched* on the next paint),
  a ``LineAndFetching`` one stays so, with the edited line;
* it moves its own cursor (``apply_prediction``, :156-206): Enter to column 0 of the next
  row, a character by its width. The next push whose cursor differs from the predicted one
  marks both rows dirty, so a predicted Enter gets the next row fetched.

Without this, the analysis meets fetches of rows it holds up to date (``unexplained``, or
evidence of a crossing that did not happen) and expects fetches of rows the client edited.

What the proxy cannot see exactly is the round trip: it measures from the SendKeyDown to the
push carrying its serial as they pass it, which leaves out the legs between it and the GUI (a
few milliseconds on one machine), so a round trip within that of the threshold may be judged
otherwise than the client judged it. A key that reaches the proxy too soon after the push that
measured a round trip to have been written after reading it
(:data:`~proxy.analysis.crossing.MIN_CLIENT_REACTION_NS`) is judged with the round trip before it.
The line content an edit produces is stood for by
:func:`codec.lines.predicted.predicted_fingerprint`; cells are taken from the held line's
``as_str()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from codec.lines import cell_width
from codec.lines.predicted import PASSWORD_HINT, erase_cell, key_name, predictable, predicted_fingerprint, set_cell
from proxy.analysis.crossing import MIN_CLIENT_REACTION_NS
from proxy.analysis.linestate import DEFAULT_CURSOR, FETCHING, LineEvent, bound_rows, next_state

if TYPE_CHECKING:
    from proxy.analysis.linemodel import PaneLines
    from proxy.analysis.linestate import Entry, Push

#: ``config.rs: default_local_echo_threshold_ms``: SSH and TLS domains
DEFAULT_THRESHOLD_MS = 100
#: SendKeyDown serials remembered per pane until a push names them (a handful are in flight)
MAX_KEYS_IN_FLIGHT = 256
#: the cells of locally edited lines, by their stand-in fingerprint
MAX_EDITED_LINES = 1024


def local_echo_threshold(choice: str | int | None, listener: str | None) -> int | None:
    """The threshold the analysis mirrors: ``off`` (None), ``on`` (WezTerm's default), a number of
    milliseconds, or ``auto``: on only when the GUI reaches the proxy as an SSH or TLS domain
    (``listener``, the listen address as the proxy prints it: ``ssh:..``, ``tls:..``), since
    WezTerm decides by the kind of the GUI's client domain."""
    if choice is None or choice == "off":
        return None
    if choice == "on":
        return DEFAULT_THRESHOLD_MS
    if choice == "auto":
        kind = (listener or "").split(":", 1)[0]
        return DEFAULT_THRESHOLD_MS if kind in ("ssh", "tls") else None
    ms = int(choice)
    return ms if ms > 0 else None


def capture_threshold(choice: str | int | None, header: dict[str, Any]) -> int | None:
    """The threshold for a capture: ``auto`` takes what the proxy that recorded it mirrored
    (``options.local_echo_ms`` in its header), or for an older capture goes by its ``listen``."""
    if choice != "auto":
        return local_echo_threshold(choice, None)
    options = header.get("options")
    if isinstance(options, dict) and "local_echo_ms" in options:
        ms = options["local_echo_ms"]
        return ms if isinstance(ms, int) and ms > 0 else None
    return local_echo_threshold("auto", str(header.get("listen") or ""))


@dataclass
class LocalEcho:
    """One connection's local echo: the threshold and what it did (shared by its panes)."""

    threshold_ms: int
    keys: int = 0
    predicted: int = 0
    #: pane -> {input serial: when the SendKeyDown passed (ns)}
    key_times: dict[int, dict[int, int]] = field(default_factory=dict)
    edited: dict[bytes, tuple[str, ...]] = field(default_factory=dict)
    #: (pane, input serial) -> whether that key was predicted: a key the reorder log takes back and
    #: applies again is counted once
    counted: dict[tuple[int, int], bool] = field(default_factory=dict)
    #: pane -> (when, the round trip before) of the last push that measured one
    rtt_before: dict[int, tuple[int, int]] = field(default_factory=dict)

    def _count(self, pane_id: int, serial: int, predicted: bool) -> bool:
        prev = self.counted.get((pane_id, serial))
        if prev is None:
            self.keys += 1
        self.predicted += predicted - bool(prev)
        self.counted[pane_id, serial] = predicted
        bound_rows(self.counted, MAX_KEYS_IN_FLIGHT)
        return predicted

    def push(self, pane: PaneLines, push: Push) -> None:
        """``apply_changes_to_surface``: a push carrying an input serial sets ``last_input_rtt``."""
        if push.input_serial is None:
            return
        sent = self.key_times.get(pane.pane_id, {}).pop(push.input_serial, None)
        if sent is not None:
            self.rtt_before[pane.pane_id] = (push.t_ns, pane.last_input_rtt)
            pane.last_input_rtt = (push.t_ns - sent) // 1_000_000

    def key_down(self, pane: PaneLines, serial: int, t_ns: int, key: tuple[str | None, int]) -> bool:
        """``ClientPane::key_down`` -> ``predict_from_key_event``; True if it predicted."""
        times = self.key_times.setdefault(pane.pane_id, {})
        times[serial] = t_ns
        bound_rows(times, MAX_KEYS_IN_FLIGHT)
        name, mods = key
        rtt = pane.last_input_rtt
        t_push, before = self.rtt_before.get(pane.pane_id, (None, rtt))
        if t_push is not None and t_ns - t_push < MIN_CLIENT_REACTION_NS:
            rtt = before  # written before the client can have read that push: it crossed it
        if rtt < self.threshold_ms or name is None or not predictable(name, mods):
            return self._count(pane.pane_id, serial, False)
        self._count(pane.pane_id, serial, True)
        cursor = dict(pane.cursor if pane.cursor is not None else DEFAULT_CURSOR)
        row = cursor["y"]
        e = pane.entries.get(row)
        if e is None:
            return True
        if e.state != FETCHING:
            e = e.copy()
            e.state = next_state(e.state, LineEvent.PREDICT)
            e.fingerprint = self._apply(cursor, name, e)
            pane.cursor = cursor
        pane.put_entry(row, e)
        return True

    def _apply(self, cursor: dict[str, Any], key: str, e: Entry) -> bytes | None:
        """``apply_prediction``: moves ``cursor`` (in place); the line's fingerprint after it."""
        cells = self._cells(e)
        if PASSWORD_HINT in "".join(cells):
            return e.fingerprint
        x = cursor["x"]
        new = cells
        if key == "Enter":
            cursor["x"], cursor["y"] = 0, cursor["y"] + 1
        elif key in ("UpArrow", "DownArrow"):
            cursor["y"] += -1 if key == "UpArrow" else 1  # an isize: UpArrow may go below 0
        elif key in ("RightArrow", "LeftArrow"):
            cursor["x"] = x + 1 if key == "RightArrow" else max(0, x - 1)
        elif key == "Delete":
            new = erase_cell(cells, x)
        elif key == "Backspace" and x > 0:
            new = erase_cell(cells, x - 1)
            cursor["x"] = x - 1
        elif key.startswith("Char:"):
            new = set_cell(cells, x, key[5:])
            cursor["x"] = x + cell_width(key[5:])
            return self._edited(e.fingerprint, key, x, new)
        return e.fingerprint if new == cells else self._edited(e.fingerprint, key, x, new)

    def _edited(self, before: bytes | None, key: str, x: int, cells: tuple[str, ...]) -> bytes:
        fp = predicted_fingerprint(before, key, x)
        self.edited[fp] = cells
        bound_rows(self.edited, MAX_EDITED_LINES)
        return fp

    def _cells(self, e: Entry) -> tuple[str, ...]:
        """The held line's cells as ``as_str()`` spells them (none if its bytes are no longer kept)."""
        if e.fingerprint in self.edited:
            return self.edited[e.fingerprint]
        text = e.facts.text() if e.facts is not None else None
        return tuple(text) if text is not None else ()


@dataclass
class LocalEchoes:
    """An analysis' local echo: the client's ``local_echo_threshold_ms`` (None: off) and each
    connection's :class:`LocalEcho`."""

    threshold_ms: int | None
    echoes: list[LocalEcho] = field(default_factory=list)

    def new(self) -> LocalEcho | None:
        """The local echo of a new connection (None when off)."""
        if not self.threshold_ms:
            return None
        self.echoes.append(LocalEcho(self.threshold_ms))
        return self.echoes[-1]

    def summary(self) -> dict[str, int] | None:
        """The report's ``local_echo``: the threshold mirrored, keys seen, keys predicted (None: off)."""
        if not self.threshold_ms:
            return None
        return {"threshold_ms": self.threshold_ms, "keys": sum(e.keys for e in self.echoes),
                "predicted": sum(e.predicted for e in self.echoes)}


def key_of(body: dict[str, Any]) -> tuple[str | None, int]:
    """A SendKeyDown's key (as :func:`codec.lines.predicted.key_name` spells it) and modifier bits."""
    event = body["event"]
    return key_name(event["key"]), event["modifiers"]["bits"]
