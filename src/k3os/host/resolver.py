"""DNS and NTP servers, as drop-ins for systemd-resolved and systemd-timesyncd (the
companions of systemd-networkd, which `network.py` configures)."""

from __future__ import annotations

from k3os.host.context import Context

DNS = "/etc/systemd/resolved.conf.d/50-k3os.conf"
NTP = "/etc/systemd/timesyncd.conf.d/50-k3os.conf"


def plan_dns(ctx: Context) -> None:
    servers = ctx.config.k3os.dns_nameservers
    if servers:
        text = f"# Written by k3os from k3os.dns_nameservers.\n[Resolve]\nDNS={' '.join(servers)}\n"
        ctx.want_file("dns", DNS, text)
    else:
        ctx.want_absent("dns", DNS)


def plan_ntp(ctx: Context) -> None:
    servers = ctx.config.k3os.ntp_servers
    if servers:
        text = f"# Written by k3os from k3os.ntp_servers.\n[Time]\nNTP={' '.join(servers)}\n"
        ctx.want_file("ntp", NTP, text)
    else:
        ctx.want_absent("ntp", NTP)
