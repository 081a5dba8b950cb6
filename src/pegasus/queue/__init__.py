"""The task queue: Huey on SQLite or Redis, after-commit sends, retries, the reconciler."""
