"""Which fetch behaviour the emulated client follows: WezTerm's, or one proposed fix.

Kept apart from :mod:`.clientpane` because it is a setting, parsed from
``--policy`` by the CLI and carried in the client's options, while the pane
only asks it questions (``selective``? ``coalesce``?).
"""

from __future__ import annotations

from dataclasses import dataclass

POLICIES = ("wezterm", "selective", "coalesce", "debounce=MS")
#: the causes the ``selective`` policy answers with a rewrap rule instead of ``make_all_stale``
RESIZE_CAUSES = frozenset({"resize", "tab_resized"})


@dataclass(frozen=True)
class Policy:
    """Which fetch behaviour to emulate: WezTerm's, or one proposed fix.

    * ``wezterm``: as the source does it.
    * ``selective``: on a resize stale only rows the rewrap can alter
      (:meth:`LineCache.make_rewrap_stale`) instead of ``make_all_stale``.
    * ``coalesce``: never request a row that is already in flight in a fetch
      that left after the row's last invalidation (a resize, zoom or palette
      change, or a push that named the row); the row's entry waits for that
      reply instead. Older fetches carry content from before the change, so
      they are not reused. This includes WezTerm's
      ``Stale`` quirk (a changed ``Line`` is fetched, its entry set ``Stale``,
      and the reply dropped, so the row is asked for again): a coalescing
      client waits for that first fetch.
    * ``debounce=MS``: the GUI applies a resize (dims, stale marking, Resize
      PDU) only once the size has been still for MS milliseconds.
    """

    name: str = "wezterm"
    debounce_ms: float = 0.0

    @classmethod
    def parse(cls, spec: str) -> Policy:
        spec = spec.strip()
        if spec in ("wezterm", "selective", "coalesce"):
            return cls(spec)
        kind, sep, ms = spec.partition("=")
        if kind == "debounce":
            try:
                value = float(ms) if sep else 100.0
            except ValueError:
                raise ValueError(f"--policy {spec!r}: debounce=MS needs a number of milliseconds") from None
            if value < 0:
                raise ValueError(f"--policy {spec!r}: the debounce must not be negative")
            return cls("debounce", value)
        raise ValueError(f"--policy {spec!r}: expected one of {', '.join(POLICIES)}")

    def __str__(self) -> str:
        return f"debounce={self.debounce_ms:g}" if self.name == "debounce" else self.name

    @property
    def selective(self) -> bool:
        return self.name == "selective"

    @property
    def coalesce(self) -> bool:
        return self.name == "coalesce"
