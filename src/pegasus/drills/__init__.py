"""Reliability drills run against a staging target, each writing dated evidence."""
