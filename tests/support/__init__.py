"""Browser helpers for the suite (browser.py); what tools share too lives in ``pegasus_testkit``
(the other modules here re-export it for test modules not yet moved to it)."""
