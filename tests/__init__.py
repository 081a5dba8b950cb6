"""Pegasus test suite."""
