"""`k3os config`: show the merged node config, or plan and apply it to a root."""

from __future__ import annotations

import sys

import click


@click.command()
@click.option("--root", "root", default=None, help="Root directory to configure (default: /).")
@click.option(
    "--cmdline", default=None, help="Kernel command line to use instead of /proc/cmdline."
)
@click.option(
    "--phase",
    type=click.Choice(["initrd", "boot", "runtime"]),
    default="runtime",
    show_default=True,
    help="Boot phase to plan or apply.",
)
@click.option("--dump", "action", flag_value="dump", help="Print the merged config as YAML.")
@click.option("--dump-json", "action", flag_value="dump-json", help="Print it as JSON.")
@click.option("--explain", "action", flag_value="explain", help="Say which source set each value.")
@click.option("--diff", "action", flag_value="diff", help="Show what --apply would change.")
@click.option("--apply", "action", flag_value="apply", help="Apply the phase to the root.")
@click.option("--schema", "action", flag_value="schema", help="Print the config's JSON Schema.")
def config(root: str | None, cmdline: str | None, phase: str, action: str | None) -> None:
    """Show the node config merged from all its sources, or plan and apply it.

    Sources, later wins: /k3os/system/config.yaml, the kernel command line,
    /var/lib/rancher/k3os/config.yaml, data sources, /var/lib/rancher/k3os/config.d/*.
    """
    from k3os import config as cfg
    from k3os import host

    if action is None:
        raise click.UsageError("choose one of --dump, --dump-json, --explain, --diff, --apply")
    if action == "schema":
        click.echo(cfg.json_schema_text(), nl=False)
        return
    try:
        node, provenance = cfg.load_config(root or "/", cmdline)
    except cfg.ConfigError as e:
        raise click.ClickException(str(e)) from e
    if action == "dump":
        click.echo(cfg.dump_yaml(node), nl=False)
    elif action == "dump-json":
        click.echo(cfg.dump_json(node))
    elif action == "explain":
        for line in cfg.explain(node, provenance):
            click.echo(line)
    else:
        try:
            # Reading is harmless anywhere; only --apply needs the explicit --root / guard.
            the_root = host.resolve_root(root, on_k3os=True if action == "diff" else None)
            the_plan = host.plan(node, the_root, phase)
        except host.HostError as e:
            raise click.ClickException(str(e)) from e
        if action == "diff":
            click.echo(the_plan.diff() or "# nothing to change\n", nl=False)
            return
        report = host.apply(the_plan)
        for note in the_plan.notes:
            click.echo(f"note: {note}", err=True)
        for line in report.lines():
            click.echo(line)
        if not report.lines():
            click.echo("nothing to change")
        if not report.ok:
            sys.exit(1)
