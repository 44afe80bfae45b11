"""The relay's error types, in a module of their own so that every transport can raise them without
importing the server (which imports the transports)."""

from __future__ import annotations


class ProxyError(Exception):
    """A problem the user can fix (address in use, bad path...); the message says how."""
