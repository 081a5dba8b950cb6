"""`pegasus drill backup-restore | migration-rollback`. Commands parse arguments and call
``pegasus.drills`` services; heavy imports stay inside the command bodies."""

from __future__ import annotations

import typer

drill_app = typer.Typer(
    help="Reliability drills against a staging target; evidence under docs/evidence/drills/.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
)
