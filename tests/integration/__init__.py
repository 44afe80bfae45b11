"""Tests that start processes, open sockets or drive real components (marked ``integration``)."""
