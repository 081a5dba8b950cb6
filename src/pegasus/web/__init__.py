"""Server-rendered pages and their templates."""
