"""Courses and presets."""
