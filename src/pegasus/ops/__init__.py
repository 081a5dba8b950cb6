"""The operator's view: stage health, queue, SLO budget, incidents from Alertmanager."""
