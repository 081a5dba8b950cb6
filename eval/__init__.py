"""Quality harness for the study-kit generator (``python -m eval.run``)."""
