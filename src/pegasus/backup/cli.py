"""`pegasus backup create | verify | restore`. Commands parse arguments and call
``pegasus.backup`` services; heavy imports stay inside the command bodies."""

from __future__ import annotations

import typer

backup_app = typer.Typer(
    help="Backup sets: create, verify, restore.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
)
