"""Browser helpers for the suite (browser.py); what tools share too lives in ``pegasus_testkit``."""
