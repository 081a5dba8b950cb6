"""The `pegasus` command. Commands parse arguments and call services, nothing else.

Each command imports what it runs inside its body: `pegasus --help` and every short command
would otherwise pay for the web app, the pipeline and their libraries (`make bench` checks
`pegasus --help` stays under 0.5 s, bench/startup.py). Keep module-level imports light.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pegasus.audit.cli import audit_commands
from pegasus.backup.cli import backup_app
from pegasus.drills.cli import drill_app
from pegasus.errors import PegasusError, UnknownPresetError
from pegasus.presets import DEFAULT_PRESET

if TYPE_CHECKING:
    from datetime import datetime

    from pegasus.config import Settings


def _group(help_text: str) -> typer.Typer:
    """A command group with plain help: Rich's help renderer costs ~0.25 s per `--help`,
    more than the rest of the CLI's start-up (`python -m bench.startup`)."""
    return typer.Typer(
        help=help_text,
        no_args_is_help=True,
        rich_markup_mode=None,
        pretty_exceptions_show_locals=False,  # locals may hold secrets
    )


app = _group("Pegasus: lecture recordings in, study kits out.")
db_app = _group("Database schema.")
users_app = _group("User accounts.")
tokens_app = _group("API tokens.")
config_app = _group("Configuration.")
slo_app = _group("Service level objectives.")
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(config_app, name="config")
app.add_typer(slo_app, name="slo")
app.add_typer(backup_app, name="backup")
app.add_typer(drill_app, name="drill")
app.add_typer(audit_commands(lambda: _settings()), name="audit")


def _settings() -> Settings:
    from pegasus.command_settings import command_settings

    return command_settings()


def _fail(exc: PegasusError, exit_code: int = 1) -> typer.Exit:
    typer.echo(f"error [{exc.code}]: {exc.message}", err=True)
    return typer.Exit(exit_code)


FIRST_ADMIN_HINT = (
    "No user exists yet. Create the first admin with:\n"
    "  .venv/bin/pegasus users create you@example.org --admin\n"
    "then sign in to the web app in a browser at this server's address, and invite learners\n"
    "with `.venv/bin/pegasus users invite` (or from your Account page). For scripts, an API\n"
    "token: .venv/bin/pegasus tokens create you@example.org"
)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(envvar="PEGASUS_SERVER_HOST", help="bind address")
    ] = None,
    port: Annotated[
        int | None, typer.Option(envvar="PEGASUS_SERVER_PORT", help="bind port")
    ] = None,
) -> None:
    """Serve the HTTP API (and, by default, run queue workers in the same process)."""
    import uvicorn

    from pegasus.accounts.service import has_users
    from pegasus.app import create_app
    from pegasus.db.session import unit_of_work
    from pegasus.runtime import build_runtime

    settings = _settings()
    runtime = build_runtime(settings, serving=True)
    with unit_of_work(runtime.session_factory) as session:
        if not has_users(session):
            typer.echo(FIRST_ADMIN_HINT, err=True)
    uvicorn.run(
        create_app(settings, runtime),
        host=host or settings.server.host,
        port=port or settings.server.port,
        log_config=None,
        access_log=False,
    )


@app.command()
def worker() -> None:
    """Run a queue worker (Huey consumer plus the reconciler) until interrupted."""
    from pegasus.queue.consumer import run_worker
    from pegasus.runtime import build_runtime

    run_worker(build_runtime(_settings()))


@app.command()
def process(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="the recording")],
    preset: Annotated[
        str,
        typer.Option(
            envvar="PEGASUS_PROCESS_PRESET",
            help="preset key: a built-in, or one of --course's own presets",
        ),
    ] = DEFAULT_PRESET,
    course: Annotated[
        str | None,
        typer.Option(
            envvar="PEGASUS_PROCESS_COURSE",
            help="a course id in the configured database, to use one of its own presets",
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option(envvar="PEGASUS_PROCESS_OUT", help="directory for the exports")
    ] = Path("out"),
) -> None:
    """Run the whole pipeline on FILE in this process, no server, and write the exports.

    It uses a scratch database and store; the configured database is only read (--course)."""
    from rich.progress import BarColumn, Progress, TaskID, TextColumn

    from pegasus.services import process_file

    settings = _settings()
    with Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[message]}"),
        transient=False,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def on_progress(stage: str, fraction: float, message: str) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=1.0, message="")
            bar.update(tasks[stage], completed=fraction, message=message[:60])

        try:
            result = process_file(
                settings, file, out, preset_key=preset, course_id=course, on_progress=on_progress
            )
        except UnknownPresetError as exc:
            raise _fail(exc, exit_code=2) from exc
        for task_id in tasks.values():
            if result.status == "succeeded":
                bar.update(task_id, completed=1.0)
    if result.status != "succeeded":
        typer.echo(f"error [{result.error_code}]: {result.error_message}", err=True)
        raise typer.Exit(1)
    for path in result.files:
        typer.echo(str(path))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration up to the newest schema (SQLite or PostgreSQL)."""
    from pegasus.runtime import build_runtime
    from pegasus.services import upgrade_database

    upgrade_database(build_runtime(_settings()))
    typer.echo("database is up to date")


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Argument(help="the user's email")],
    admin: Annotated[
        bool,
        typer.Option("--admin", envvar="PEGASUS_USERS_CREATE_ADMIN", help="make the user an admin"),
    ] = False,
    password_file: Annotated[
        Path | None,
        typer.Option(
            envvar="PEGASUS_USERS_CREATE_PASSWORD_FILE", help="read the password from this file"
        ),
    ] = None,
) -> None:
    """Create a user; the password comes from a prompt or --password-file."""
    from pegasus.accounts.service import create_user
    from pegasus.db.session import unit_of_work
    from pegasus.runtime import build_runtime

    if password_file is not None:
        password = password_file.read_text(encoding="utf-8").strip()
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    runtime = build_runtime(_settings())
    try:
        with unit_of_work(runtime.session_factory) as session:
            user = create_user(session, email, password, is_admin=admin)
            typer.echo(f"created {'admin' if user.is_admin else 'user'} {user.email}")
    except PegasusError as exc:
        raise _fail(exc) from exc


@users_app.command("invite")
def users_invite(
    admin: Annotated[
        bool,
        typer.Option(
            "--admin", envvar="PEGASUS_USERS_INVITE_ADMIN", help="the invited account is an admin"
        ),
    ] = False,
    expires_days: Annotated[
        float | None,
        typer.Option(
            envvar="PEGASUS_ACCOUNTS_INVITATION_DAYS",
            help="days the link stays valid (default 7)",
            min=0.001,
            max=365,
        ),
    ] = None,
) -> None:
    """Print a single-use sign-up link (for PEGASUS_ACCOUNTS_SIGNUP=invite)."""
    from datetime import timedelta

    from pegasus.accounts.invitations import create_invitation, invitation_link
    from pegasus.db.base import utcnow
    from pegasus.db.session import unit_of_work
    from pegasus.runtime import build_runtime

    settings = _settings()
    runtime = build_runtime(settings)
    days = expires_days if expires_days is not None else settings.accounts.invitation_days
    with unit_of_work(runtime.session_factory) as session:
        made = create_invitation(
            session, created_by=None, is_admin=admin, now=utcnow(), lifetime=timedelta(days=days)
        )
    base = settings.server.public_url
    if not base:
        host = settings.server.host
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # nosec B104  # compares
        base = f"http://{host}:{settings.server.port}"
    typer.echo(invitation_link(base, made.token))
    if settings.accounts.signup != "invite":
        typer.echo(
            f"note: sign-up is {settings.accounts.signup!r}; the link works only with "
            "PEGASUS_ACCOUNTS_SIGNUP=invite",
            err=True,
        )


@users_app.command("list")
def users_list(
    as_json: Annotated[
        bool,
        typer.Option("--json", envvar="PEGASUS_USERS_LIST_AS_JSON", help="one JSON document"),
    ] = False,
) -> None:
    """List every user: email, role, created, disabled."""
    from pegasus.accounts.admin import list_users
    from pegasus.db.session import unit_of_work
    from pegasus.runtime import build_runtime

    runtime = build_runtime(_settings())
    with unit_of_work(runtime.session_factory) as session:
        rows = [
            {
                "id": user.id,
                "email": user.email,
                "is_admin": user.is_admin,
                "created_at": _when(user.created_at),
                "disabled_at": _when(user.disabled_at),
            }
            for user in list_users(session)
        ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        role = "admin" if row["is_admin"] else "user"
        state = f"disabled {row['disabled_at']}" if row["disabled_at"] else "enabled"
        typer.echo(f"{row['id']}\t{row['email']}\t{role}\tcreated {row['created_at']}\t{state}")


def _set_disabled(who: str, *, disabled: bool) -> None:
    from pegasus.accounts.admin import disable_user, enable_user, find_user
    from pegasus.db.base import utcnow
    from pegasus.db.session import unit_of_work
    from pegasus.runtime import build_runtime

    runtime = build_runtime(_settings())
    try:
        with unit_of_work(runtime.session_factory) as session:
            user = find_user(session, who)
            email = user.email
            if disabled:
                changed = disable_user(session, user, now=utcnow(), by=None)
            else:
                changed = enable_user(session, user)
    except PegasusError as exc:
        raise _fail(exc) from exc
    state = "disabled" if disabled else "enabled"
    typer.echo(f"{email} is {state}" + ("" if changed else " (it was already)"))


@users_app.command("disable")
def users_disable(
    user: Annotated[str, typer.Argument(help="the user's email or id")],
) -> None:
    """Disable a user: their sessions end and their API tokens are refused at once."""
    _set_disabled(user, disabled=True)


@users_app.command("enable")
def users_enable(
    user: Annotated[str, typer.Argument(help="the user's email or id")],
) -> None:
    """Let a disabled user sign in again (their unrevoked tokens work again)."""
    _set_disabled(user, disabled=False)


@tokens_app.command("create")
def tokens_create(
    email: Annotated[str, typer.Argument(help="the user the token signs in as")],
    name: Annotated[
        str, typer.Option(envvar="PEGASUS_TOKENS_CREATE_NAME", help="a label for the token")
    ] = "cli",
    expires_days: Annotated[
        int | None,
        typer.Option(
            envvar="PEGASUS_TOKENS_CREATE_EXPIRES_DAYS",
            help="the token stops working after this many days (default: until revoked)",
            min=1,
            max=3650,
        ),
    ] = None,
) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    from pegasus.accounts.service import create_token
    from pegasus.db.session import unit_of_work
    from pegasus.runtime import build_runtime

    runtime = build_runtime(_settings())
    try:
        with unit_of_work(runtime.session_factory) as session:
            secret = create_token(session, email, name=name, expires_in_days=expires_days)
    except PegasusError as exc:
        raise _fail(exc) from exc
    typer.echo(secret)


@tokens_app.command("list")
def tokens_list(
    email: Annotated[
        str | None,
        typer.Option(envvar="PEGASUS_TOKENS_LIST_EMAIL", help="only this user's tokens"),
    ] = None,
    include_revoked: Annotated[
        bool,
        typer.Option(
            "--all", envvar="PEGASUS_TOKENS_LIST_INCLUDE_REVOKED", help="revoked tokens too"
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", envvar="PEGASUS_TOKENS_LIST_AS_JSON", help="one JSON document"),
    ] = False,
) -> None:
    """List API tokens (never their secrets): id, prefix, user, name, created, last used,
    expiry, revocation."""
    from pegasus.accounts.admin import list_tokens
    from pegasus.db.session import unit_of_work
    from pegasus.runtime import build_runtime

    runtime = build_runtime(_settings())
    try:
        with unit_of_work(runtime.session_factory) as session:
            rows = [
                {
                    "id": token.id,
                    "prefix": token.prefix,
                    "user": token.user.email,
                    "name": token.name,
                    "created_at": _when(token.created_at),
                    "last_used_at": _when(token.last_used_at),
                    "expires_at": _when(token.expires_at),
                    "revoked_at": _when(token.revoked_at),
                }
                for token in list_tokens(session, email=email, include_revoked=include_revoked)
            ]
    except PegasusError as exc:
        raise _fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
        typer.echo(
            f"{row['id']}\t{row['prefix']}…\t{row['user']}\t{row['name']}\t"
            f"created {row['created_at']}\tlast used {row['last_used_at'] or 'never'}\t"
            f"expires {row['expires_at'] or 'never'}\t{state}"
        )


@tokens_app.command("revoke")
def tokens_revoke(
    token: Annotated[str, typer.Argument(help="the token's id, or its prefix (pgs_…)")],
) -> None:
    """Revoke an API token: its next request is refused (401 auth.token_revoked)."""
    from pegasus.accounts.admin import revoke_token
    from pegasus.db.base import utcnow
    from pegasus.db.session import unit_of_work
    from pegasus.runtime import build_runtime

    runtime = build_runtime(_settings())
    try:
        with unit_of_work(runtime.session_factory) as session:
            revoked = revoke_token(session, token, now=utcnow())
            shown = f"revoked {revoked.prefix}… ({revoked.name}) of {revoked.user.email}"
    except PegasusError as exc:
        raise _fail(exc) from exc
    typer.echo(shown)


def _when(moment: datetime | None) -> str | None:
    """A timestamp as the CLI prints it (ISO 8601, UTC, seconds)."""
    return moment.isoformat(timespec="seconds") if moment is not None else None


@config_app.command("show")
def config_show(
    env: Annotated[
        bool,
        typer.Option(
            "--env", envvar="PEGASUS_CONFIG_SHOW_ENV", help="list every environment variable"
        ),
    ] = False,
    markdown: Annotated[
        bool,
        typer.Option(
            "--markdown",
            envvar="PEGASUS_CONFIG_SHOW_MARKDOWN",
            help="the README's configuration table",
        ),
    ] = False,
) -> None:
    """Print the effective configuration with secrets redacted."""
    from pegasus.config import env_var_names, markdown_table

    if markdown:
        typer.echo(markdown_table())
        return
    if env:
        for name, info in env_var_names():
            typer.echo(f"{name}\t{info.description or ''}")
        return
    typer.echo(json.dumps(_settings().redacted(), indent=2, default=str))


@slo_app.command("render")
def slo_render(
    slo: Annotated[
        Path | None,
        typer.Option(
            envvar="PEGASUS_OPS_SLO_FILE",
            help="the SLO declarations, as for /ops (default: the slo.yaml shipped in the package)",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            envvar="PEGASUS_SLO_RENDER_OUT",
            help="the generated Prometheus rules (default: ops/prometheus/rules/slo.rules.yml)",
            show_default=False,
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            envvar="PEGASUS_SLO_RENDER_CHECK",
            help="fail if OUT differs from a fresh render",
        ),
    ] = False,
) -> None:
    """Render Prometheus SLI recording rules and burn-rate alerts from the SLO file."""
    from pegasus.observability.slo import (
        DEFAULT_RULES_PATH,
        DEFAULT_SLO_PATH,
        is_up_to_date,
        render_to_file,
    )

    slo = slo or DEFAULT_SLO_PATH
    out = out or DEFAULT_RULES_PATH
    try:
        if check:
            if not is_up_to_date(slo, out):
                typer.echo(f"{out} is stale: run `pegasus slo render` and commit it.", err=True)
                raise typer.Exit(1)
            typer.echo(f"{out} is up to date with {slo}")
            return
        render_to_file(slo, out)
    except PegasusError as exc:
        raise _fail(exc) from exc
    typer.echo(f"wrote {out}")


def main() -> None:
    try:
        app()
    except PegasusError as exc:
        typer.echo(f"error [{exc.code}]: {exc.message}", err=True)
        sys.exit(1)
