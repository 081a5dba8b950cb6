"""The lecture pipeline: ingest -> transcribe -> generate -> export."""
