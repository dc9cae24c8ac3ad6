"""Appliers on a temporary root: what each concern writes, idempotence, rollback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import bcrypt
import pytest

from k3os import host
from k3os.config import NodeConfig
from k3os.host.actions import KernelWrite, Plan, WriteFile
from k3os.host.rootfs import Root, booted_k3os, resolve_root


def conf(data: dict[str, object]) -> NodeConfig:
    return NodeConfig.model_validate(data)


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        out[str(path)] = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
    return out


def converge(config: NodeConfig, root: Path, phase: str = "runtime") -> host.ApplyReport:
    report = host.apply(host.plan(config, root, phase, fetch=lambda url: ""))
    assert report.ok, report.lines()
    before = snapshot(root)
    again = host.plan(config, root, phase, fetch=lambda url: "")
    assert again.changes == [], again.diff()
    second = host.apply(again)
    assert second.ok and second.writes == 0
    assert snapshot(root) == before  # not one file written, created or touched
    return report


def read(root: Path, path: str) -> str:
    return (root / path.lstrip("/")).read_text()


def test_hostname_and_hosts(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hosts").write_text("127.0.0.1 localhost\n127.0.1.1 old\n10.0.0.9 other\n")
    converge(conf({"hostname": "edge-01.example.com"}), tmp_path)
    assert read(tmp_path, "/etc/hostname") == "edge-01.example.com\n"
    assert read(tmp_path, "/etc/hosts") == (
        "127.0.0.1 localhost\n10.0.0.9 other\n127.0.1.1\tedge-01.example.com edge-01\n"
    )


def test_generated_hostname_is_kept(tmp_path: Path) -> None:
    converge(NodeConfig(), tmp_path)
    name = read(tmp_path, "/etc/hostname").strip()
    assert (
        name.startswith("k3os-")
        and read(tmp_path, "/var/lib/rancher/k3os/hostname").strip() == name
    )
    other = tmp_path / "other"
    (other / "etc").mkdir(parents=True)
    (other / "etc/hostname").write_text("image-name\n")
    assert host.plan(NodeConfig(), other, "boot").empty  # the image's own name is left alone


def test_kernel_settings_files(tmp_path: Path) -> None:
    converge(
        conf(
            {
                "k3os": {
                    "sysctl": {"vm.max_map_count": "262144"},
                    "modules": ["nvme", "nf_conntrack hashsize=1024"],
                    "dns_nameservers": ["1.1.1.1", "9.9.9.9"],
                    "ntp_servers": ["ntp.example"],
                }
            }
        ),
        tmp_path,
    )
    assert "vm.max_map_count = 262144\n" in read(tmp_path, "/etc/sysctl.d/90-k3os.conf")
    assert read(tmp_path, "/etc/modules-load.d/k3os.conf").endswith("nvme\nnf_conntrack\n")
    assert read(tmp_path, "/etc/modprobe.d/k3os.conf").endswith(
        "options nf_conntrack hashsize=1024\n"
    )
    assert "DNS=1.1.1.1 9.9.9.9\n" in read(tmp_path, "/etc/systemd/resolved.conf.d/50-k3os.conf")
    assert "NTP=ntp.example\n" in read(tmp_path, "/etc/systemd/timesyncd.conf.d/50-k3os.conf")
    # removed from the config -> the managed files go
    converge(conf({"hostname": "x", "k3os": {"modules": ["nvme"]}}), tmp_path)
    assert not (tmp_path / "etc/sysctl.d/90-k3os.conf").exists()
    assert not (tmp_path / "etc/modprobe.d/k3os.conf").exists()
    assert not (tmp_path / "etc/systemd/resolved.conf.d/50-k3os.conf").exists()
    assert not (tmp_path / "etc/systemd/timesyncd.conf.d/50-k3os.conf").exists()
    converge(conf({"hostname": "x"}), tmp_path)
    assert not (tmp_path / "etc/modules-load.d/k3os.conf").exists()


def test_write_files_owner_mode_and_local_edits(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(
        "root:x:0:0::/root:/bin/sh\nsvc:x:1234:1234::/:/bin/false\n"
    )
    (tmp_path / "etc/group").write_text("root:x:0:\nsvc:x:1234:\nops:x:2000:\n")
    config = conf(
        {
            "hostname": "x",
            "write_files": [
                {
                    "path": "/opt/app/secret",
                    "content": "czNjcjN0",
                    "encoding": "b64",
                    "owner": "svc:ops",
                    "permissions": "0640",
                },
                {"path": "/etc/motd", "content": "hello\n"},
            ],
        }
    )
    converge(config, tmp_path, "boot")
    secret = tmp_path / "opt/app/secret"
    st = secret.stat()
    assert (secret.read_bytes(), st.st_mode & 0o7777, st.st_uid, st.st_gid) == (
        b"s3cr3t",
        0o640,
        1234,
        2000,
    )
    # boot_cmd edits the file: the runtime phase leaves the edit alone (k3OS #93) ...
    (tmp_path / "etc/motd").write_text("edited by boot_cmd\n")
    later = host.plan(config, tmp_path, "runtime", fetch=lambda url: "")
    assert later.changes == []
    assert any("/etc/motd: edited on the node" in note for note in later.notes)
    # ... until the config entry itself changes
    changed = conf({"hostname": "x", "write_files": [{"path": "/etc/motd", "content": "new\n"}]})
    converge(changed, tmp_path)
    assert read(tmp_path, "/etc/motd") == "new\n"
    # a deleted file is written again
    (tmp_path / "etc/motd").unlink()
    converge(changed, tmp_path)
    assert read(tmp_path, "/etc/motd") == "new\n"


def test_unknown_owner_is_a_plan_error(tmp_path: Path) -> None:
    early = host.plan(conf({"write_files": [{"path": "/a", "owner": "late"}]}), tmp_path, "initrd")
    assert "/a: owner late does not exist yet; written at boot" in early.notes
    with pytest.raises(host.PlanError, match="no user 'nobody-here'"):
        host.plan(conf({"write_files": [{"path": "/a", "owner": "nobody-here"}]}), tmp_path, "boot")
    with pytest.raises(host.PlanError, match="no group 'nogroup'"):
        host.plan(
            conf({"write_files": [{"path": "/a", "owner": "root:nogroup"}]}), tmp_path, "boot"
        )
    plan = host.plan(conf({"write_files": [{"path": "/a", "owner": "7:8"}]}), tmp_path, "boot")
    assert any(isinstance(c, WriteFile) and c.owner == (7, 8) for c in plan.changes)


def test_environment_block_keeps_hand_written_lines(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/environment").write_text("LANG=C.UTF-8\n")
    converge(
        conf(
            {
                "hostname": "x",
                "k3os": {"environment": {"https_proxy": "http://p:3128", "Q": 'a "b"'}},
            }
        ),
        tmp_path,
    )
    text = read(tmp_path, "/etc/environment")
    assert text.startswith("LANG=C.UTF-8\n# >>> k3os managed")
    assert 'https_proxy="http://p:3128"\nQ="a \\"b\\""\n' in text
    converge(conf({"hostname": "x"}), tmp_path)
    assert read(tmp_path, "/etc/environment") == "LANG=C.UTF-8\n"


def test_node_settings_for_the_agent(tmp_path: Path) -> None:
    config = conf(
        {
            "hostname": "x",
            "k3os": {
                "server_url": "https://10.0.0.2:6443",
                "token": "K10abc::node:s",
                "labels": {"site": "b"},
                "taints": ["dedicated=edge:NoSchedule"],
            },
        }
    )
    converge(config, tmp_path)
    agent = tmp_path / "etc/k3os/agent.yaml"
    assert agent.stat().st_mode & 0o777 == 0o600
    text = agent.read_text()
    assert "role: agent\nserver_url: https://10.0.0.2:6443\ntoken: K10abc::node:s\n" in text
    assert "node_taints:\n- dedicated=edge:NoSchedule\n" in text
    diff = host.plan(conf({"hostname": "x", "k3os": {"token": "other"}}), tmp_path).diff()
    assert "K10abc" not in diff and "content hidden" in diff
    converge(conf({"hostname": "x"}), tmp_path)
    assert not agent.exists()


def test_users_passwords_and_removal(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (tmp_path / "etc/group").write_text("root:x:0:\nwheel:x:10:\n")
    (tmp_path / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    os.chmod(tmp_path / "etc/shadow", 0o600)
    config = conf(
        {
            "hostname": "x",
            "k3os": {"password": "plain-secret"},
            "users": [
                {
                    "name": "alice",
                    "groups": ["wheel"],
                    "password": "$6$salt$prehashed",
                    "ssh_authorized_keys": ["ssh-ed25519 A alice"],
                },
                {"name": "bob", "uid": 2001, "shell": "/bin/bash"},
            ],
        }
    )
    converge(config, tmp_path)
    passwd = read(tmp_path, "/etc/passwd")
    assert "rancher:x:1000:1000::/home/rancher:/bin/sh\n" in passwd
    assert "alice:x:1001:1001::/home/alice:/bin/sh\n" in passwd
    assert "bob:x:2001:2001::/home/bob:/bin/bash\n" in passwd
    assert "wheel:x:10:alice\n" in read(tmp_path, "/etc/group")
    shadow = {
        line.split(":")[0]: line.split(":") for line in read(tmp_path, "/etc/shadow").splitlines()
    }
    assert bcrypt.checkpw(b"plain-secret", shadow["rancher"][1].encode())
    assert shadow["alice"][1] == "$6$salt$prehashed"
    assert shadow["bob"][1] == "*"
    assert (tmp_path / "etc/shadow").stat().st_mode & 0o777 == 0o600  # existing mode kept
    home = tmp_path / "home/alice"
    assert (home.stat().st_uid, home.stat().st_mode & 0o777) == (1001, 0o750)
    assert read(tmp_path, "/home/alice/.ssh/authorized_keys").count("ssh-ed25519 A alice") == 1
    # bob leaves the config: removed from passwd, shadow and group; his home stays
    converge(
        conf({"hostname": "x", "k3os": {"password": "plain-secret"}, "users": [{"name": "alice"}]}),
        tmp_path,
    )
    assert "bob" not in read(tmp_path, "/etc/passwd") + read(tmp_path, "/etc/shadow") + read(
        tmp_path, "/etc/group"
    )
    assert "wheel:x:10:\n" in read(tmp_path, "/etc/group")
    assert (tmp_path / "home/bob").is_dir()


def test_missing_group_is_a_plan_error(tmp_path: Path) -> None:
    with pytest.raises(host.PlanError, match="group 'wheel' does not exist"):
        host.plan(conf({"users": [{"name": "alice", "groups": ["wheel"]}]}), tmp_path, "boot")


def test_managed_ssh_keys(tmp_path: Path) -> None:
    keys = {
        "https://keys.test/alice": "ssh-ed25519 REMOTE1 alice\n# comment\nssh-rsa REMOTE2 alice\n"
    }
    fetched: list[str] = []

    def fetch(url: str) -> str:
        fetched.append(url)
        if url not in keys:
            raise OSError("unreachable")
        return keys[url]

    config = conf(
        {
            "hostname": "x",
            "ssh_authorized_keys": ["ssh-ed25519 PLAIN1 a", "https://keys.test/alice"],
        }
    )
    assert host.apply(host.plan(config, tmp_path, "runtime", fetch=fetch)).ok
    path = tmp_path / "home/rancher/.ssh/authorized_keys"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (path.parent.stat().st_mode & 0o777, path.parent.stat().st_uid) == (0o700, 1000)
    with path.open("a") as f:
        f.write("ssh-ed25519 BYHAND admin\n")
    text = path.read_text()
    assert (
        "ssh-ed25519 PLAIN1 a\n# from https://keys.test/alice\n"
        "ssh-ed25519 REMOTE1 alice\nssh-rsa REMOTE2 alice\n" in text
    )
    # boot phase: no network; the keys fetched before are kept as they are
    boot = host.plan(config, tmp_path, "boot")
    assert boot.changes == []
    # a failing fetch keeps the old keys and says so
    keys.clear()
    failing = host.plan(config, tmp_path, "runtime", fetch=fetch)
    assert failing.changes == [] and any("cannot fetch" in n for n in failing.notes)
    # a key removed from the config leaves the node; the hand-added one stays
    converge(conf({"hostname": "x", "ssh_authorized_keys": ["ssh-ed25519 PLAIN2 b"]}), tmp_path)
    text = path.read_text()
    assert "PLAIN1" not in text and "REMOTE1" not in text
    assert "ssh-ed25519 PLAIN2 b" in text and "ssh-ed25519 BYHAND admin" in text
    assert fetched[:1] == ["https://keys.test/alice"]


def test_remote_keys_wait_for_runtime(tmp_path: Path) -> None:
    config = conf({"hostname": "x", "ssh_authorized_keys": ["github:alice", "gitlab:bob"]})
    boot = host.plan(config, tmp_path, "boot")
    assert sum("fetched in the runtime phase" in n for n in boot.notes) == 2
    urls: list[str] = []
    host.plan(
        config, tmp_path, "runtime", fetch=lambda url: urls.append(url) or "ssh-ed25519 K x\n"
    )
    assert urls == ["https://github.com/alice.keys", "https://gitlab.com/bob.keys"]


def test_network_files_and_stale_removal(tmp_path: Path) -> None:
    config = conf(
        {
            "hostname": "x",
            "network": {
                "interfaces": {
                    "eth0": {
                        "addresses": ["10.0.0.5/24"],
                        "gateway": "10.0.0.1",
                        "mtu": 9000,
                        "routes": [{"to": "default", "via": "10.0.0.254", "metric": 5}],
                    },
                    "eth9": {"mac_address": "52:54:00:AA:BB:CC", "optional": True},
                },
                "vlans": {"v10": {"id": 10, "link": "eth0", "mtu": 1500}},
                "bonds": {"bond0": {"interfaces": ["eth1", "eth2"], "dhcp": "ipv4"}},
            },
            "k3os": {"wifi": [{"name": "shop", "passphrase": "long-enough"}]},
        }
    )
    converge(config, tmp_path)
    net = tmp_path / "etc/systemd/network"
    names = sorted(p.name for p in net.iterdir())
    assert names == [
        f"50-k3os-{n}"
        for n in ["bond0.netdev", "bond0.network", "eth0.network", "eth1.network", "eth2.network",
                  "eth9.network", "v10.netdev", "v10.network", "wlan0.network"]
    ]  # fmt: skip
    eth0 = (net / "50-k3os-eth0.network").read_text()
    assert "MTUBytes=9000" in eth0 and "DHCP=no" in eth0 and "VLAN=v10" in eth0
    assert "[Route]\nDestination=0.0.0.0/0\nGateway=10.0.0.254\nMetric=5\n" in eth0
    assert "Bond=bond0" in (net / "50-k3os-eth1.network").read_text()
    assert "MACAddress=52:54:00:aa:bb:cc" in (net / "50-k3os-eth9.network").read_text()
    assert "Kind=vlan" in (net / "50-k3os-v10.netdev").read_text()
    assert "DHCP=yes" in (net / "50-k3os-wlan0.network").read_text()
    wpa = tmp_path / "etc/wpa_supplicant/wpa_supplicant-wlan0.conf"
    assert wpa.stat().st_mode & 0o777 == 0o600 and 'ssid="shop"' in wpa.read_text()
    link = tmp_path / "etc/systemd/system/multi-user.target.wants/wpa_supplicant@wlan0.service"
    assert str(link.readlink()) == "/lib/systemd/system/wpa_supplicant@.service"
    (net / "00-hand-made.network").write_text("[Match]\nName=eth5\n")
    (wpa.parent / "wpa_supplicant-wlan9.conf").write_text("by hand\n")
    converge(conf({"hostname": "x", "network": {"interfaces": {"eth0": {}}}}), tmp_path)
    assert sorted(p.name for p in net.iterdir()) == ["00-hand-made.network", "50-k3os-eth0.network"]
    assert sorted(p.name for p in wpa.parent.iterdir()) == ["wpa_supplicant-wlan9.conf"]
    assert not link.is_symlink()


def test_phases(tmp_path: Path) -> None:
    config = conf(
        {
            "hostname": "x",
            "init_cmd": ["echo i"],
            "boot_cmd": ["echo b"],
            "run_cmd": ["echo r"],
            "k3os": {"password": "pw", "ntp_servers": ["n"]},
        }
    )
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/sh").write_text("")
    initrd = host.plan(config, tmp_path, "initrd")
    assert [c.label for c in initrd.commands] == ["init_cmd[0]"]
    assert initrd.commands[0].argv == ["chroot", str(tmp_path), "/bin/sh", "-c", "echo i"]
    paths = {c.path for c in initrd.changes}
    assert (
        "/etc/hostname" in paths
        and "/etc/shadow" not in paths
        and not any("timesyncd" in p for p in paths)
    )
    boot = host.plan(config, tmp_path, "boot")
    assert [c.label for c in boot.commands] == ["boot_cmd[0]"]
    assert "/etc/shadow" in {c.path for c in boot.changes}
    assert [c.label for c in host.plan(config, tmp_path, "runtime").commands] == ["run_cmd[0]"]
    with pytest.raises(host.HostError, match="unknown phase"):
        host.plan(config, tmp_path, "late")
    rows = dict(host.phase_table())
    assert rows["init_cmd"] == ("initrd",) and rows["hostname"] == ("initrd", "boot", "runtime")


def test_commands_report_exit_codes_and_stop(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/sh").write_text("")
    config = conf({"hostname": "x", "run_cmd": ["one", "two", "three"]})
    ran: list[str] = []

    def runner(argv: list[str]) -> subprocess.CompletedProcess[str]:
        ran.append(argv[-1])
        if argv[-1] == "three":
            raise OSError("no such file")
        return subprocess.CompletedProcess(argv, 3 if argv[-1] == "two" else 0, "out\n", "err\n")

    report = host.apply(host.plan(config, tmp_path), runner=runner)
    assert not report.ok and ran == ["one", "two"]
    assert report.error == "run_cmd[1] failed with exit code 3"
    assert report.commands_not_run == ["run_cmd[2]"]
    assert "command run_cmd[1]: failed with exit code 3" in report.lines()
    assert "  | err" in report.lines()
    report = host.apply(
        host.plan(conf({"hostname": "x", "run_cmd": ["three"]}), tmp_path), runner=runner
    )
    assert report.commands[0].exit_code == 127


def test_commands_need_a_shell_in_the_root(tmp_path: Path) -> None:
    plan = host.plan(conf({"hostname": "x", "boot_cmd": ["echo"]}), tmp_path, "boot")
    assert (
        plan.commands == []
        and "boot_cmd: 1 command(s) not run: the root has no /bin/sh" in plan.notes
    )


def test_failure_midway_rolls_back_everything(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hostname").write_text("before\n")
    (tmp_path / "etc/motd").write_text("old motd\n")
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv/blocker").write_text("a file, not a directory\n")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    config = conf(
        {
            "hostname": "after",
            "k3os": {"sysctl": {"vm.swappiness": "1"}},
            "write_files": [
                {"path": "/etc/motd", "content": "new"},
                {"path": "/srv/blocker/inside", "content": "x"},
            ],
        }
    )
    report = host.apply(host.plan(config, tmp_path, "boot"))
    assert not report.ok and report.error is not None and "mkdir /srv/blocker" in report.error
    assert "write /etc/hostname" in report.rolled_back and "write /etc/motd" in report.rolled_back
    assert report.not_applied[0] == "mkdir /srv/blocker"
    assert "write /srv/blocker/inside" in report.not_applied
    assert any(line.startswith("rolled back: ") for line in report.lines())
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in (tmp_path / "etc").iterdir()) == ["hostname", "motd"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["etc", "srv"]


def test_rollback_restores_symlinks_kernel_values_and_reports_what_it_could_not(
    tmp_path: Path,
) -> None:
    proc = tmp_path / "fake-proc-value"
    proc.write_text("old")
    (tmp_path / "link").symlink_to("/old-target")
    plan = Plan(str(tmp_path), "runtime", live=False)
    plan.changes = [
        KernelWrite("sysctl", str(proc), "new", "old"),
        host.actions.Symlink("wifi", "/link", "/new-target", "/old-target"),
        host.actions.RemoveFile("x", "/missing"),
    ]
    report = host.apply(plan)
    assert not report.ok
    assert proc.read_text() == "old" and str((tmp_path / "link").readlink()) == "/old-target"
    assert report.rolled_back == ["link /link -> /new-target", "set " + str(proc) + " = new"]
    # an undo that itself fails is named
    proc2 = tmp_path / "p2"
    proc2.write_text("a")
    plan.changes = [
        KernelWrite("sysctl", str(proc2), "b"),
        host.actions.RemoveFile("x", "/missing"),
    ]
    real_write = Path.write_text
    calls = {"n": 0}

    def flaky(self: Path, data: str, *args: object, **kwargs: object) -> int:
        calls["n"] += 1
        if calls["n"] > 1:
            raise PermissionError("read-only")
        return real_write(self, data)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Path, "write_text", flaky)
        report = host.apply(plan)
    assert report.not_rolled_back == [f"set {proc2} = b"]
    assert any("NOT rolled back" in line for line in report.lines())


def test_diff_shows_unified_diffs_and_commands(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hostname").write_text("old\n")
    os.chmod(tmp_path / "etc/hostname", 0o600)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/sh").write_text("")
    (tmp_path / "blob").write_bytes(b"\xff\x00")
    plan = host.plan(
        conf(
            {
                "hostname": "new",
                "run_cmd": ["echo 'hi there'"],
                "write_files": [{"path": "/blob", "content": "x"}],
            }
        ),
        tmp_path,
    )
    diff = plan.diff()
    assert "# /etc/hostname: mode 0o600 -> 0o644\n--- a/etc/hostname\n+++ b/etc/hostname\n" in diff
    assert "-old\n+new\n" in diff
    assert "# /blob: binary content changes (2 -> 1 bytes)" in diff
    assert f"$ chroot {tmp_path} /bin/sh -c 'echo '\"'\"'hi there'\"'\"''\n" in diff
    assert not plan.empty


def test_root_guard(tmp_path: Path) -> None:
    with pytest.raises(host.RootRefused, match="pass --root /"):
        resolve_root(None, on_k3os=False)
    assert resolve_root(None, on_k3os=True).live
    assert resolve_root("/").live
    assert not resolve_root(tmp_path).live
    with pytest.raises(host.HostError, match="not a directory"):
        resolve_root(tmp_path / "nope")
    release = tmp_path / "os-release"
    release.write_text('NAME="k3os"\nID=k3os\n')
    assert booted_k3os(release) == (os.geteuid() == 0)
    release.write_text("ID=debian\n")
    assert not booted_k3os(release)
    assert not booted_k3os(tmp_path / "missing")


def test_paths_cannot_escape_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "etc").symlink_to(outside)  # absolute: means ROOT/<outside> once chrooted
    (root / "var").symlink_to("../../../outside")  # `..` stops at the root
    (root / str(outside).lstrip("/")).mkdir(parents=True)
    report = host.apply(host.plan(conf({"hostname": "x"}), root, "boot"))
    assert report.ok
    assert list(outside.iterdir()) == []
    assert (root / str(outside).lstrip("/") / "hostname").read_text() == "x\n"
    assert (root / "outside/lib/rancher/k3os/hostname").exists() is False
    (root / "loop").symlink_to("/loop")
    with pytest.raises(host.HostError, match="too many symlinks"):
        Root(root).host_path("/loop/x")
    with pytest.raises(host.HostError, match="absolute"):
        Root(root).host_path("etc/x")


def test_live_root_plans_kernel_writes_without_applying() -> None:
    loaded = Path("/proc/modules").read_text() if Path("/proc/modules").exists() else ""
    config = conf(
        {
            "hostname": "k3os-test-not-this-host",
            "k3os": {"sysctl": {"vm.k3os_test_value": "1"}, "modules": ["k3os_test_mod"]},
        }
    )
    plan = host.plan(config, Root(Path("/")), "initrd")
    assert plan.live
    kernel = [c for c in plan.changes if isinstance(c, KernelWrite)]
    assert {c.path for c in kernel} == {"/proc/sys/kernel/hostname", "/proc/sys/vm/k3os_test_value"}
    assert [c.argv for c in plan.commands] == [["modprobe", "k3os_test_mod"]]
    assert "k3os_test_mod" not in loaded
