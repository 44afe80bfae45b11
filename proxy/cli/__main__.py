"""``python -m proxy.cli``: the same as the ``muxscope`` script (tests and the demo start children this way)."""

import sys

from proxy.cli.main import main

sys.exit(main())
