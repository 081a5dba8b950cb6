"""Pegasus turns lecture recordings into study kits."""

__version__ = "0.1.0"
