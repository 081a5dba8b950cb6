"""The `pegasus` command's options: every one has a PEGASUS_ environment variable."""

from __future__ import annotations

from collections.abc import Iterator

import typer.core
import typer.main

from pegasus.cli import app
from pegasus.config import env_var_names

Option = typer.core.TyperOption


def _options(command: object, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Option]]:
    """Every option of every command below ``command``, with the command's path."""
    if isinstance(command, typer.core.TyperGroup):
        for name, sub in command.commands.items():
            yield from _options(sub, (*path, name))
        return
    assert isinstance(command, typer.core.TyperCommand), command
    for param in command.params:
        if isinstance(param, Option) and param.name != "help":
            yield " ".join(path), param


def _all_options() -> list[tuple[str, Option]]:
    return list(_options(typer.main.get_command(app)))


def test_the_walk_sees_every_command() -> None:
    commands = {path for path, _ in _all_options()}
    assert {"serve", "process", "users create", "tokens create", "slo render"} <= commands


def test_every_option_has_an_environment_variable_shown_in_help() -> None:
    missing = [f"{path} --{opt.name}" for path, opt in _all_options() if not opt.envvar]
    assert missing == [], "give these options an envvar= (CONTRIBUTING, 'CLI and config')"
    assert all(opt.show_envvar for _, opt in _all_options())


def test_option_variables_are_settings_or_named_after_their_command() -> None:
    """An option that sets a setting reads the setting's variable (PEGASUS_SERVER_PORT);
    any other is PEGASUS_<COMMAND>_<OPTION>, so no two options share one by accident."""
    settings_vars = {name for name, _ in env_var_names()}
    wrong = []
    for path, opt in _all_options():
        own = f"PEGASUS_{path}_{opt.name}".upper().replace(" ", "_").replace("-", "_")
        if opt.envvar not in settings_vars | {own}:
            wrong.append((path, opt.name, opt.envvar, own))
    assert wrong == []


def test_the_slo_file_has_one_variable_the_setting() -> None:
    slo = {opt.envvar for path, opt in _all_options() if path == "slo render" and opt.name == "slo"}
    assert slo == {"PEGASUS_OPS_SLO_FILE"}
    assert "PEGASUS_OPS_SLO_FILE" in {name for name, _ in env_var_names()}
