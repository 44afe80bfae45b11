"""Sinks that turn analysis results into log events and Prometheus metrics."""
