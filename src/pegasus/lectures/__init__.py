"""Lectures: upload, status, retry, transcript and exports."""
