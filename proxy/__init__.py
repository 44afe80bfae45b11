"""Everything in muxscope that does I/O: endpoints, the relay, the tap, analysis, metrics, CLI."""

__version__ = "0.1.0"
