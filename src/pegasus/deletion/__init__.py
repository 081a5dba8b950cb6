"""Deleting lectures, courses and users: tombstone at once, purge in the background, verify,
and a receipt the owner can download."""
