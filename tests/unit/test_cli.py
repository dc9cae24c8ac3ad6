from __future__ import annotations

import json

import click
from click.testing import CliRunner

import k3os
from k3os.cli import SUBCOMMANDS, cli


def test_help_lists_every_subcommand() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in SUBCOMMANDS:
        assert name in result.output


def test_every_subcommand_loads() -> None:
    ctx = click.Context(cli)
    for name in SUBCOMMANDS:
        command = cli.get_command(ctx, name)
        assert isinstance(command, click.Command), name
        if not command.add_help_option:  # passes --help on (k3os kubectl)
            continue
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)


def test_version_text_and_json() -> None:
    out = CliRunner().invoke(cli, ["version"])
    assert out.exit_code == 0
    assert out.output.startswith(f"k3os {k3os.__version__} ")
    data = json.loads(CliRunner().invoke(cli, ["version", "--json"]).output)
    assert data["version"] == k3os.__version__


def test_unknown_command_fails() -> None:
    result = CliRunner().invoke(cli, ["no-such-thing"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_bad_env_log_level_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["version"], env={"K3OS_LOG_LEVEL": "loud"})
    assert result.exit_code == 2
    assert "K3OS_LOG_LEVEL" in result.output


def test_public_surface() -> None:
    assert k3os.__all__ == ["__version__"]
