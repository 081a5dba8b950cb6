"""The settings a `pegasus` command runs with: built once, logging configured from them.

Shared by every command group (`pegasus.cli`, `pegasus.backup.cli`, `pegasus.drills.cli`);
it sits below all of them. A configuration error ends the command with exit status 2 and
the reason on stderr (secret values are never echoed: `Settings` hides input in errors).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from pegasus.config import Settings


def command_settings() -> Settings:
    """``get_settings()`` with logging configured; exit 2 on an invalid configuration."""
    from pegasus.config import get_settings
    from pegasus.observability.logging import configure_logging

    try:
        settings = get_settings()
    except ValueError as exc:
        typer.echo(f"Configuration error: {exc}", err=True)
        raise typer.Exit(2) from exc
    configure_logging(settings.log)
    return settings
