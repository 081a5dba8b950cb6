"""Backup sets: the database and every stored object, with manifests to verify and restore them."""
