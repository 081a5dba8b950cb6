"""Running Alembic migrations from code (``pegasus db upgrade`` and the test fixtures).

The revisions ship inside the package (``pegasus/migrations``, package data), so an
installed wheel migrates as well as a checkout does."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from pegasus.errors import ConfigError


def migrations_dir() -> Path:
    """The Alembic script directory shipped in the package, as a real directory."""
    location = resources.files("pegasus").joinpath("migrations")
    if not isinstance(location, Path) or not location.joinpath("env.py").is_file():
        raise ConfigError(
            f"The database migrations are missing from the installed package ({location}): "
            "reinstall Pegasus from a wheel or a checkout."
        )
    return location


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the package's migrations and ``url``."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` up to ``revision``."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database behind ``engine`` down to ``revision``."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
