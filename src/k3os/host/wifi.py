"""Wi-Fi: `/etc/wpa_supplicant/wpa_supplicant-IFACE.conf` (mode 0600) for systemd's
`wpa_supplicant@IFACE` unit, enabled by a symlink; the link's DHCP is in `network.py`."""

from __future__ import annotations

from k3os.config import Wifi
from k3os.host.actions import RemoveFile, Symlink
from k3os.host.context import Context

CONCERN = "wifi"
CONF = "/etc/wpa_supplicant/wpa_supplicant-{}.conf"
WANTS = "/etc/systemd/system/multi-user.target.wants/wpa_supplicant@{}.service"
UNIT = "/lib/systemd/system/wpa_supplicant@.service"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _block(net: Wifi) -> str:
    key = f"\tpsk={_quoted(net.passphrase)}\n" if net.passphrase else "\tkey_mgmt=NONE\n"
    return f"network={{\n\tssid={_quoted(net.name)}\n{key}}}\n"


HEADER = "# Written by k3os from k3os.wifi.\n"


def _remove_stale(ctx: Context, keep: set[str]) -> None:
    """Interfaces that left the config: drop our config file and the unit's enabling link."""
    conf_dir = ctx.root.host_path("/etc/wpa_supplicant", follow=True)
    for conf in sorted(conf_dir.glob("wpa_supplicant-*.conf")) if conf_dir.is_dir() else []:
        iface = conf.name.removeprefix("wpa_supplicant-").removesuffix(".conf")
        if iface not in keep and conf.read_text(errors="replace").startswith(HEADER):
            ctx.want_absent(CONCERN, CONF.format(iface))
            link = ctx.root.host_path(WANTS.format(iface))
            if link.is_symlink() and str(link.readlink()) == UNIT:
                ctx.changes.append(RemoveFile(CONCERN, WANTS.format(iface)))


def plan(ctx: Context) -> None:
    by_iface: dict[str, list[Wifi]] = {}
    for net in ctx.config.k3os.wifi:
        by_iface.setdefault(net.interface, []).append(net)
    for iface, nets in sorted(by_iface.items()):
        text = HEADER
        text += "ctrl_interface=/run/wpa_supplicant\nupdate_config=0\n\n"
        text += "\n".join(_block(n) for n in nets)
        ctx.want_file(CONCERN, CONF.format(iface), text, mode=0o600, secret=True)
        link = ctx.root.host_path(WANTS.format(iface))
        current = str(link.readlink()) if link.is_symlink() else None
        if current != UNIT:
            ctx.want_dirs(CONCERN, WANTS.format(iface))
            ctx.changes.append(Symlink(CONCERN, WANTS.format(iface), UNIT, current))
    _remove_stale(ctx, set(by_iface))
