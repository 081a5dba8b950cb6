"""Database: declarative base, engine and unit of work, typed models."""
