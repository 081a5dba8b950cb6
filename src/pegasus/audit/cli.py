"""`pegasus audit verify | list`. The composition root (``pegasus.cli``) registers the group
and passes in how a command loads its settings; heavy imports stay in the command bodies.

Exit codes of ``verify``: 0 when the chain is intact, 1 when it is broken (the first broken
link on standard output), 2 when it could not be checked (the reason on standard error).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from pegasus.config import Settings

EXIT_BROKEN = 1
EXIT_ERROR = 2


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    """A read-only session on the configured database (rolled back, never committed)."""
    from pegasus.db.session import build_engine, build_session_factory

    engine = build_engine(settings.database)
    try:
        with build_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def audit_commands(load_settings: Callable[[], Settings]) -> typer.Typer:
    """The ``audit`` command group; ``load_settings`` builds the command's settings."""
    group = typer.Typer(
        help="The hash-chained audit log: verify it, list entries.",
        no_args_is_help=True,
        rich_markup_mode=None,
        pretty_exceptions_show_locals=False,  # locals may hold secrets
    )

    @group.command("verify")
    def verify(
        as_json: Annotated[
            bool,
            typer.Option(
                "--json",
                envvar="PEGASUS_AUDIT_VERIFY_AS_JSON",
                help="print the report as one JSON document",
            ),
        ] = False,
    ) -> None:
        """Recompute every entry's hash and link; exit 1 and name the first broken link."""
        from sqlalchemy.exc import SQLAlchemyError

        from pegasus.audit.verify import verify_chain

        settings = load_settings()
        try:
            with _session(settings) as session:
                report = verify_chain(session)
        except SQLAlchemyError as exc:
            typer.echo(f"error: the audit log could not be read ({type(exc).__name__})", err=True)
            raise typer.Exit(EXIT_ERROR) from exc
        if as_json:
            typer.echo(json.dumps(report.to_json(), indent=2))
        else:
            typer.echo(("ok: " if report.ok else "BROKEN: ") + report.reason)
            typer.echo(f"head: entry {report.head_seq}, hash {report.head_hash}")
        if not report.ok:
            raise typer.Exit(EXIT_BROKEN)

    @group.command("list")
    def list_entries(
        limit: Annotated[
            int,
            typer.Option(
                envvar="PEGASUS_AUDIT_LIST_LIMIT",
                help="entries to show, newest first",
                min=1,
                max=500,  # pegasus.audit.log.MAX_PAGE
            ),
        ] = 50,
        action: Annotated[
            str | None,
            typer.Option(envvar="PEGASUS_AUDIT_LIST_ACTION", help="only this action"),
        ] = None,
        actor: Annotated[
            str | None,
            typer.Option(envvar="PEGASUS_AUDIT_LIST_ACTOR", help="only this actor's user id"),
        ] = None,
        as_json: Annotated[
            bool,
            typer.Option("--json", envvar="PEGASUS_AUDIT_LIST_AS_JSON", help="one JSON document"),
        ] = False,
    ) -> None:
        """List audit entries, newest first: seq, time, action, actor, subject, details."""
        from pegasus.audit.log import list_events

        settings = load_settings()
        with _session(settings) as session:
            rows = [
                {
                    "seq": event.seq,
                    "occurred_at": event.occurred_at.isoformat(timespec="seconds"),
                    "action": event.action,
                    "actor_id": event.actor_id,
                    "subject_type": event.subject_type,
                    "subject_id": event.subject_id,
                    "details": event.details,
                }
                for event in list_events(session, limit=limit, action=action, actor_id=actor)
            ]
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        for row in rows:
            details = json.dumps(row["details"], sort_keys=True)
            typer.echo(
                f"{row['seq']}\t{row['occurred_at']}\t{row['action']}\t"
                f"actor {row['actor_id'] or '-'}\t{row['subject_type']} "
                f"{row['subject_id'] or '-'}\t{details}"
            )

    return group
