"""Object storage: one protocol, a local-directory store and an S3 store."""
