"""Tests that run in one process: codec, analysis, models; fast, no sockets or child processes."""
