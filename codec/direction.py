"""The two directions of a mux connection, named once for the whole project.

A ``StrEnum``: the values are the strings captures, logs, metrics labels and JSON
output have always used, so a direction compares equal to (and prints as) its
string, and nothing that reads those outputs sees a difference.
"""

from __future__ import annotations

from enum import StrEnum


class Direction(StrEnum):
    """Which way bytes travel on a connection between wezterm-gui (client) and the mux (server)."""

    CLIENT_TO_SERVER = "client_to_server"
    SERVER_TO_CLIENT = "server_to_client"
