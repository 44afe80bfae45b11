"""Session-wide checks, and the ``integration`` marker.

Tests live in two folders: ``tests/unit`` (one process, no sockets) and ``tests/integration``
(child processes, sockets, real components). Every test under ``tests/integration`` is marked
``integration``, so ``pytest -m "not integration"`` is the quick run while editing.

The golden vectors are test data in the repository (``tests/golden``); a
checkout without them is broken, and every correctness test would fail one by
one. Stop the run at once with the reason instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import golden

INTEGRATION = Path(__file__).resolve().parent / "integration"


def pytest_sessionstart(session: pytest.Session) -> None:
    if not golden.available():
        raise pytest.UsageError(
            f"the golden vectors are missing at {golden.GOLDEN}: restore tests/golden from git "
            "(or `python3 -m tests.golden --sync` from ../shared/golden)"
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.path)).is_relative_to(INTEGRATION):
            item.add_marker(pytest.mark.integration)
