"""Tools run from the repository root (``python scripts/audit.py``); importable for tests."""
