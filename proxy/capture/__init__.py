"""Captures: the .muxcap format, the recorder, offline analysis, replay, scrub."""
