"""Networking through systemd-networkd: one `.network` per interface, `.netdev` for VLANs and
bonds, in `/etc/systemd/network/50-k3os-*`; files of interfaces removed from the config go.

Why networkd (and not ifupdown, or k3OS's connman): it is declarative, one small file per
link that we can generate and diff; it does DHCP, static addresses, routes, per-link DNS,
MTU, VLANs and bonds without extra packages; it reconfigures links on file changes
(`networkctl reload`) instead of bouncing every interface; it pairs with systemd-resolved and
systemd-timesyncd for DNS and NTP; and it is in every Debian base system already.
"""

from __future__ import annotations

from k3os.config import Interface
from k3os.host.context import Context

CONCERN = "network"
DIR = "/etc/systemd/network"
PREFIX = "50-k3os-"


def _network_file(name: str, iface: Interface | None, extra: list[str]) -> str:
    lines = [f"# Written by k3os from network: {name}.", "[Match]"]
    lines.append(
        f"MACAddress={iface.mac_address}" if iface and iface.mac_address else f"Name={name}"
    )
    if iface and (iface.mtu or iface.optional):
        lines += ["", "[Link]"]
        lines += [f"MTUBytes={iface.mtu}"] if iface.mtu else []
        lines += ["RequiredForOnline=no"] if iface.optional else []
    lines += ["", "[Network]", f"DHCP={iface.dhcp_mode() if iface else 'no'}"]
    if iface:
        lines += [f"Address={a}" for a in iface.addresses]
        lines += [f"Gateway={iface.gateway}"] if iface.gateway else []
        lines += [f"DNS={d}" for d in iface.dns]
        lines += [f"Domains={' '.join(iface.domains)}"] if iface.domains else []
    lines += extra
    for route in iface.routes if iface else []:
        lines += [
            "",
            "[Route]",
            f"Destination={'0.0.0.0/0' if route.to == 'default' else route.to}",
        ]
        lines += [f"Gateway={route.via}"] if route.via else []
        lines += [f"Metric={route.metric}"] if route.metric is not None else []
    return "\n".join(lines) + "\n"


def wanted_files(ctx: Context) -> dict[str, str]:
    """File name -> content for every link the config describes."""
    net = ctx.config.network
    links: dict[str, Interface | None] = {}
    extra: dict[str, list[str]] = {}
    files: dict[str, str] = {}
    if net is not None:
        links.update(net.interfaces)
        for name, vlan in net.vlans.items():
            links[name] = vlan
            links.setdefault(vlan.link, None)
            extra.setdefault(vlan.link, []).append(f"VLAN={name}")
            netdev = f"[NetDev]\nName={name}\nKind=vlan\n"
            if vlan.mtu:
                netdev += f"MTUBytes={vlan.mtu}\n"
            files[f"{PREFIX}{name}.netdev"] = netdev + f"\n[VLAN]\nId={vlan.id}\n"
        for name, bond in net.bonds.items():
            links[name] = bond
            for member in bond.interfaces:
                links[member] = None  # a member carries no addresses of its own
                extra.setdefault(member, []).append(f"Bond={name}")
            files[f"{PREFIX}{name}.netdev"] = (
                f"[NetDev]\nName={name}\nKind=bond\n\n[Bond]\nMode={bond.mode}\n"
            )
    for wifi in ctx.config.k3os.wifi:
        if wifi.interface not in links:
            links[wifi.interface] = Interface.model_validate({"dhcp": True})
    for name, iface in links.items():
        files[f"{PREFIX}{name}.network"] = _network_file(name, iface, extra.get(name, []))
    return files


def plan(ctx: Context) -> None:
    files = wanted_files(ctx)
    for name, content in sorted(files.items()):
        ctx.want_file(CONCERN, f"{DIR}/{name}", content)
    directory = ctx.root.host_path(DIR, follow=True)
    if directory.is_dir():
        for path in sorted(directory.iterdir()):
            if path.name.startswith(PREFIX) and path.name not in files:
                ctx.want_absent(CONCERN, f"{DIR}/{path.name}")
