"""Operational drills run against real processes on this machine (`make alert-drill`)."""
