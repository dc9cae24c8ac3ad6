"""Write the upstream definitions the API server serves into the package, compressed.

The pinned dev dependency `kubernetes-validate` carries kube-openapi's definitions for many
Kubernetes releases (over 100 MB); the server needs one release's file. This copies that
one file, minified and gzipped, to src/k3os/apiserver/data/. A unit test checks it is current.

    .venv/bin/python scripts/gen-k8s-definitions.py
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from k3os.apiserver.schemas import DEFINITIONS_FILE, KUBERNETES_SCHEMA_VERSION  # noqa: E402


def render() -> bytes:
    import kubernetes_validate

    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    source = base / f"{KUBERNETES_SCHEMA_VERSION}-local" / "_definitions.json"
    data = json.loads(source.read_text(encoding="utf-8"))
    text = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    return gzip.compress(text, compresslevel=9, mtime=0)


def main() -> None:
    target = ROOT / "src" / "k3os" / "apiserver" / "data" / DEFINITIONS_FILE
    target.write_bytes(render())
    print(f"{target.relative_to(ROOT)}: {target.stat().st_size} bytes")


if __name__ == "__main__":
    main()
