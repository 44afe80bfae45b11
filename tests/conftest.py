"""Session-wide checks.

The golden vectors are test data in the repository (``tests/golden``); a
checkout without them is broken, and every correctness test would fail one by
one. Stop the run at once with the reason instead.
"""

from __future__ import annotations

import pytest

from tests import golden


def pytest_sessionstart(session: pytest.Session) -> None:
    if not golden.available():
        raise pytest.UsageError(
            f"the golden vectors are missing at {golden.GOLDEN}: restore tests/golden from git "
            "(or `python3 -m tests.golden --sync` from ../shared/golden)"
        )
