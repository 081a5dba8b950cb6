"""Full-text search over a learner's transcripts (FTS5 on SQLite, tsvector on PostgreSQL)."""
