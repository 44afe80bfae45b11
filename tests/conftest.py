"""Session-wide checks.

The golden vectors live outside the repository (``../shared/golden``, or
``MUXSCOPE_GOLDEN_DIR``); without them the tests that check the decoder against
WezTerm's own frames skip. That is fine on a laptop, not on CI: under
``MUXSCOPE_REQUIRE_INTEGRATION=1`` (set by ``.ci/run``) their absence stops the
run at once instead of letting dozens of correctness tests skip quietly.
"""

from __future__ import annotations

import pytest

from tests import golden
from tests.integration import REQUIRE


def pytest_sessionstart(session: pytest.Session) -> None:
    if REQUIRE and not golden.available():
        raise pytest.UsageError(
            f"MUXSCOPE_REQUIRE_INTEGRATION=1 but the golden vectors are missing at {golden.GOLDEN} "
            "(clone beside ../shared, or set MUXSCOPE_GOLDEN_DIR)"
        )
