"""The node config schema: k3OS's `config.yaml`, plus network, users and managed SSH keys.

Field names here are the canonical (snake_case) spellings; `spelling.py` maps k3OS's tolerant
spellings onto them before validation. Every model forbids unknown keys so a typo is an
error that names the field, not a setting silently ignored.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_USERNAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_IFNAME = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")

Encoding = Literal["", "b64", "gzip", "gzip+b64"]
PHASES = ("initrd", "boot", "runtime")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, validate_default=False)


def _check_hostname(value: str | None) -> str | None:
    if value is not None and not _HOSTNAME.match(value):
        raise ValueError("expected a hostname: letters, digits and '-', dot-separated labels")
    return value


def _check_unique(keys: list[str], what: str = "") -> None:
    """Refuse a list that names one thing twice (the first such, in sorted order)."""
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ValueError(f"{what}{dupes[0]} is listed more than once")


class WriteFile(_Model):
    """One entry of `write_files`."""

    path: str = Field(description="Absolute path of the file on the node.")
    content: str = Field("", description="File content, encoded as `encoding` says.")
    encoding: Encoding = Field(
        "", description="'', b64, gzip or gzip+b64 (k3OS spellings accepted)."
    )
    owner: str = Field("root:root", description="`user` or `user:group`, names or numbers.")
    permissions: str = Field("0644", description="Octal mode, e.g. '0600'.")

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or "\0" in value:
            raise ValueError("expected an absolute path")
        if ".." in value.split("/"):
            raise ValueError("expected a path without '..'")
        return value

    @field_validator("encoding", mode="before")
    @classmethod
    def _encoding(cls, value: object) -> object:
        spelled = {
            "base64": "b64", "gz": "gzip", "gz+base64": "gzip+b64", "gzip+base64": "gzip+b64",
            "gz+b64": "gzip+b64",
        }  # fmt: skip
        return spelled.get(str(value).lower(), str(value).lower()) if value is not None else ""

    @field_validator("permissions", mode="before")
    @classmethod
    def _octal(cls, value: object) -> str:
        text = str(value)
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML 1.1 reads `0644` as 420; a bare `644` stays decimal and means octal digits.
            text = oct(value)[2:] if value <= 0o777 else str(value)
        if not re.fullmatch(r"0?[0-7]{3,4}", text) and not re.fullmatch(r"0o[0-7]{3,4}", text):
            raise ValueError("expected an octal mode such as '0644'")
        return "0" + text.removeprefix("0o").lstrip("0").rjust(3, "0")

    @model_validator(mode="after")
    def _decodable(self) -> WriteFile:
        try:
            self.decoded()
        except (binascii.Error, OSError, EOFError, ValueError) as e:
            raise ValueError(f"content is not valid {self.encoding}: {e}") from e
        return self

    @property
    def mode(self) -> int:
        return int(self.permissions, 8)

    def decoded(self) -> bytes:
        """The bytes to write, after base64 and gzip decoding."""
        data = self.content.encode()
        if self.encoding in ("b64", "gzip+b64"):
            data = base64.b64decode(data, validate=True)
        if self.encoding in ("gzip", "gzip+b64"):
            data = gzip.decompress(
                data if self.encoding == "gzip+b64" else self.content.encode("latin-1")
            )
        return data


class Wifi(_Model):
    """A wireless network for wpa_supplicant."""

    name: str = Field(description="The network's SSID (aliases: ssid).")
    passphrase: str | None = Field(
        None, description="WPA passphrase (aliases: pass, password); none for an open network."
    )
    interface: str = Field("wlan0", description="Wireless interface to use.")

    @field_validator("passphrase")
    @classmethod
    def _wpa(cls, value: str | None) -> str | None:
        if value is not None and not 8 <= len(value) <= 63:
            raise ValueError("expected a WPA passphrase of 8 to 63 characters")
        return value


class Install(_Model):
    """Installer settings (`k3os.install`); never written back to disk by the appliers."""

    force_efi: bool = False
    device: str | None = None
    config_url: str | None = None
    silent: bool = False
    iso_url: str | None = None
    power_off: bool = False
    no_format: bool = False
    debug: bool = False
    tty: str | None = None


def _check_cidr(value: str) -> str:
    try:
        ipaddress.ip_interface(value)
    except ValueError as e:
        raise ValueError(
            f"expected an address with prefix length, e.g. 10.0.0.5/24 ({value!r})"
        ) from e
    if "/" not in value:
        raise ValueError(f"expected an address with prefix length, e.g. 10.0.0.5/24 ({value!r})")
    return value


def _check_ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError as e:
        raise ValueError(f"expected an IP address ({value!r})") from e
    return value


Cidr = Annotated[str, AfterValidator(_check_cidr)]
IP = Annotated[str, AfterValidator(_check_ip)]


class Route(_Model):
    """A static route."""

    to: str = Field(description="Destination network (CIDR) or 'default'.")
    via: str | None = Field(None, description="Gateway address.")
    metric: int | None = Field(None, ge=0)

    @field_validator("to")
    @classmethod
    def _dest(cls, value: str) -> str:
        if value == "default":
            return value
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError as e:
            raise ValueError(
                f"expected a network such as 10.1.0.0/16 or 'default' ({value!r})"
            ) from e
        return value

    @field_validator("via")
    @classmethod
    def _gateway(cls, value: str | None) -> str | None:
        return None if value is None else _check_ip(value)


class Interface(_Model):
    """One network interface (ethernet, VLAN or bond) configured through systemd-networkd."""

    dhcp: bool | Literal["ipv4", "ipv6"] | None = Field(
        None,
        description="DHCP: true (both), ipv4, ipv6 or false; default: true without addresses.",
    )
    addresses: list[Cidr] = Field(
        default_factory=list, description="Static addresses with prefix length."
    )
    gateway: str | None = Field(None, description="Default gateway.")
    routes: list[Route] = Field(default_factory=list)
    dns: list[IP] = Field(default_factory=list, description="Name servers for this link.")
    domains: list[str] = Field(default_factory=list, description="Search domains for this link.")
    mtu: int | None = Field(None, ge=576, le=65535)
    mac_address: str | None = Field(None, description="Match the device by MAC instead of name.")
    optional: bool = Field(False, description="Do not wait for this link at boot.")

    @field_validator("gateway")
    @classmethod
    def _gw(cls, value: str | None) -> str | None:
        return None if value is None else _check_ip(value)

    @field_validator("mac_address")
    @classmethod
    def _mac(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}", value):
            raise ValueError("expected a MAC address such as 52:54:00:12:34:56")
        return value.lower() if value else value

    def dhcp_mode(self) -> str:
        """networkd's DHCP= value."""
        dhcp = self.dhcp if self.dhcp is not None else not self.addresses
        if isinstance(dhcp, bool):
            return "yes" if dhcp else "no"
        return dhcp


class Vlan(Interface):
    """A VLAN on top of another interface."""

    id: int = Field(ge=1, le=4094)
    link: str = Field(description="The parent interface.")


class Bond(Interface):
    """A bond of several interfaces."""

    interfaces: list[str] = Field(min_length=1, description="Member interfaces.")
    mode: Literal[
        "balance-rr",
        "active-backup",
        "balance-xor",
        "broadcast",
        "802.3ad",
        "balance-tlb",
        "balance-alb",
    ] = "active-backup"


class Network(_Model):
    """Declarative networking; each name is an interface name."""

    interfaces: dict[str, Interface] = Field(default_factory=dict)
    vlans: dict[str, Vlan] = Field(default_factory=dict)
    bonds: dict[str, Bond] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names(self) -> Network:
        seen: set[str] = set()
        for group in (self.interfaces, self.vlans, self.bonds):
            for name in group:
                if not _IFNAME.match(name):
                    raise ValueError(
                        f"expected an interface name of at most 15 characters ({name!r})"
                    )
                if name in seen:
                    raise ValueError(f"interface {name!r} is defined twice")
                seen.add(name)
        return self


class User(_Model):
    """A declarative local user; users removed from the config are removed from the node."""

    name: str
    uid: int | None = Field(None, ge=1, le=60000, description="Default: the next free id >= 1000.")
    groups: list[str] = Field(
        default_factory=list, description="Supplementary groups (must exist)."
    )
    shell: str = "/bin/sh"
    home: str | None = Field(None, description="Default: /home/NAME.")
    gecos: str = ""
    password: str | None = Field(None, description="Plain (hashed on apply) or pre-hashed `$...`.")
    ssh_authorized_keys: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _USERNAME.match(value):
            raise ValueError("expected a user name: lower-case letters, digits, '_' and '-'")
        if value in ("root", "rancher"):
            raise ValueError(f"{value!r} is built in; configure it through k3os.password instead")
        return value


def _check_taint(taint: str) -> str:
    if not re.fullmatch(r"[^=:\s]+(=[^:\s]*)?:(NoSchedule|PreferNoSchedule|NoExecute)", taint):
        raise ValueError(f"expected a taint KEY[=VALUE]:EFFECT ({taint!r})")
    return taint


def _check_source(spec: str) -> str:
    known = ("nocloud", "cdrom", "openstack", "ec2", "aws")
    if spec.partition(":")[0] not in known:
        raise ValueError(f"expected a data source among {', '.join(known)} ({spec!r})")
    return spec


Taint = Annotated[str, AfterValidator(_check_taint)]
DataSource = Annotated[str, AfterValidator(_check_source)]


class K3OS(_Model):
    """Settings under `k3os:`."""

    data_sources: list[DataSource] = Field(
        default_factory=list,
        description="Probed in order, first hit wins: nocloud, cdrom, openstack, ec2/aws; "
        "`NAME:PATH-or-URL` points one elsewhere.",
    )
    modules: list[str] = Field(
        default_factory=list, description="Kernel modules, `name [params...]`."
    )
    sysctl: dict[str, str] = Field(
        default_factory=dict, description="Kernel parameters, `a.b.c: value`."
    )
    ntp_servers: list[str] = Field(default_factory=list)
    dns_nameservers: list[str] = Field(default_factory=list)
    wifi: list[Wifi] = Field(default_factory=list)
    password: str | None = Field(
        None, description="Password of the `rancher` user; `$...` is taken as a hash."
    )
    server_url: str | None = Field(None, description="Join this server as an agent.")
    token: str | None = Field(None, description="Cluster join token.")
    labels: dict[str, str] = Field(default_factory=dict)
    k3s_args: list[str] = Field(default_factory=list)
    environment: dict[str, str] = Field(
        default_factory=dict, description="Written to /etc/environment."
    )
    taints: list[Taint] = Field(
        default_factory=list, description="`key=value:Effect` taints at registration."
    )
    install: Install | None = None
    mode: str | None = Field(None, description="Boot mode (command line only in practice).")
    fallback_mode: str | None = None
    debug: bool = False

    @field_validator("server_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("expected a URL such as https://10.0.0.2:6443")
        return value

    @field_validator("sysctl")
    @classmethod
    def _sysctl_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not re.fullmatch(r"[A-Za-z0-9_*-]+([./][A-Za-z0-9_*-]+)*", key):
                raise ValueError(f"expected a sysctl name such as vm.max_map_count ({key!r})")
        return value

    @field_validator("k3s_args")
    @classmethod
    def _k3s_args(cls, value: list[str]) -> list[str]:
        if value and value[0] not in ("server", "agent"):
            raise ValueError("expected the first argument to be 'server' or 'agent'")
        return value

    @field_validator("environment")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ValueError(f"expected an environment variable name ({key!r})")
            if "\n" in item:
                raise ValueError(f"expected a one-line value for {key}")
        return value


class NodeConfig(_Model):
    """One node's whole OS configuration (k3OS `config.yaml`)."""

    ssh_authorized_keys: list[str] = Field(
        default_factory=list,
        description="Keys of `rancher`: plain, github:USER, gitlab:USER or an https URL. "
        "Managed: keys removed here are removed from the node.",
    )
    write_files: list[WriteFile] = Field(default_factory=list)
    hostname: Annotated[str | None, Field(description="Node host name.")] = None
    init_cmd: list[str] = Field(
        default_factory=list, description="Shell commands run in the initrd phase."
    )
    boot_cmd: list[str] = Field(
        default_factory=list, description="Shell commands run in the boot phase."
    )
    run_cmd: list[str] = Field(
        default_factory=list, description="Shell commands run in the runtime phase."
    )
    network: Network | None = None
    users: list[User] = Field(default_factory=list)
    k3os: K3OS = Field(default_factory=lambda: K3OS.model_validate({}))

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: str | None) -> str | None:
        return _check_hostname(value)

    @field_validator("write_files")
    @classmethod
    def _unique_paths(cls, value: list[WriteFile]) -> list[WriteFile]:
        _check_unique([f.path for f in value])
        return value

    @field_validator("users")
    @classmethod
    def _unique_names(cls, value: list[User]) -> list[User]:
        _check_unique([u.name for u in value], "user ")
        return value
