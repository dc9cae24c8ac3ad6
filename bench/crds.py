"""CRD benchmark: how soon a new CRD is served, on a real `k3os server` (TLS, SQLite).

Figures (one JSON line each):
  crd/discovery    CRD POST answered -> its group in /apis, ms (median, p99 as extra)
  crd/openapi      CRD POST answered -> its group-version in the OpenAPI v3 index, ms
  crd/first-object CRD POST answered -> the first custom object created, ms
  crd/gone         CRD DELETE answered -> its group gone from /apis, ms
  cr/create/1      sequential custom object creates (schema, defaults, one CEL rule), objects/s
  goal/crd-served  the issue's goal (served within a second), with `met`
Each figure names `configmap/create` (one ConfigMap create round trip, same server, same
run) or `configmap/create/1` as its baseline.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx

from _common import emit, machine, now, parse_args, percentile
from api import api_server

BENCH = "crds"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def _crd(n: int) -> dict[str, object]:
    group = f"g{n}.bench.example.com"
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "x-kubernetes-validations": [{"rule": "self.size <= 100"}],
                "properties": {
                    "size": {"type": "integer", "minimum": 0, "default": 1},
                    "name": {"type": "string", "pattern": "^[a-z]+$"},
                },
            }
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"things.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "things", "kind": "Thing"},
            "versions": [
                {"name": "v1", "served": True, "storage": True,
                 "schema": {"openAPIV3Schema": schema}},
            ],
        },
    }  # fmt: skip


def _wait(check: object, limit: float = 30.0) -> float:
    start = now()
    while not check():  # type: ignore[operator]
        if now() - start > limit:
            raise RuntimeError("timed out")
        time.sleep(0.002)
    return (now() - start) * 1000


def main() -> None:
    args = parse_args(__doc__ or "")
    rounds = 3 if args.quick else 15
    objects = 50 if args.quick else 500
    with tempfile.TemporaryDirectory() as tmp, api_server(Path(tmp) / "data", "") as (url, tls):
        http = httpx.Client(base_url=url, verify=tls, timeout=30)
        cm_ms = []
        for i in range(rounds):
            start = now()
            r = http.post("/api/v1/namespaces/default/configmaps",
                          json={"metadata": {"name": f"cm{i}"}})  # fmt: skip
            r.raise_for_status()
            cm_ms.append((now() - start) * 1000)
        emit(BENCH, "configmap/create", "latency", median(cm_ms), "ms", None, **machine())
        served, indexed, first, gone = [], [], [], []
        for n in range(rounds):
            crd = _crd(n)
            group = crd["spec"]["group"]  # type: ignore[index]
            http.post(CRDS, json=crd).raise_for_status()
            t0 = now()

            def in_apis(g: str = str(group)) -> bool:
                return any(x["name"] == g for x in http.get("/apis").json()["groups"])

            def in_index(g: str = str(group)) -> bool:
                return f"apis/{g}/v1" in http.get("/openapi/v3").json()["paths"]

            def created(g: str = str(group), n: int = n) -> bool:
                body = {"metadata": {"name": f"t{n}"}, "spec": {"size": 3}}
                return http.post(f"/apis/{g}/v1/namespaces/default/things", json=body).is_success

            for check, samples in ((in_apis, served), (in_index, indexed), (created, first)):
                _wait(check)
                samples.append((now() - t0) * 1000)
            http.delete(f"{CRDS}/things.{group}").raise_for_status()
            t1 = now()
            _wait(lambda g=str(group): not in_apis(g))
            gone.append((now() - t1) * 1000)
        for case, samples in (("crd/discovery", served), ("crd/openapi", indexed),
                              ("crd/first-object", first), ("crd/gone", gone)):  # fmt: skip
            emit(BENCH, case, "latency", median(samples), "ms", "configmap/create",
                 p99=round(percentile(samples, 99), 3))  # fmt: skip
        worst = max(max(served), max(indexed), max(first))
        emit(BENCH, "goal/crd-served", "latency", worst, "ms", "configmap/create",
             goal_ms=1000, met=worst <= 1000)  # fmt: skip
        crd = _crd(999)
        http.post(CRDS, json=crd).raise_for_status()
        group = crd["spec"]["group"]  # type: ignore[index]
        _wait(lambda: http.get(f"/apis/{group}/v1").status_code == 200)
        rates: dict[str, list[float]] = {"cr": [], "cm": []}
        paths = {"cr": f"/apis/{group}/v1/namespaces/default/things",
                 "cm": "/api/v1/namespaces/default/configmaps"}  # fmt: skip
        for r in range(4):  # alternating rounds: drift in the machine hits both alike
            for kind in ("cm", "cr") if r % 2 else ("cr", "cm"):
                start = now()
                for i in range(objects // 4):
                    body = {"metadata": {"name": f"{kind}{r}-{i}"}, "spec": {"name": "abc"}}
                    if kind == "cm":
                        body = {"metadata": body["metadata"], "data": {"name": "abc"}}
                    http.post(paths[kind], json=body).raise_for_status()
                rates[kind].append((objects // 4) / (now() - start))
        rate, base = median(rates["cr"]), median(rates["cm"])
        emit(BENCH, "configmap/create/1", "rate", base, "objects/s", None)
        emit(BENCH, "cr/create/1", "rate", rate, "objects/s", "configmap/create/1")
        http.close()


if __name__ == "__main__":
    main()
