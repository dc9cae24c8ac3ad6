"""Schema checks of request bodies and the protobuf decoder, as pure functions."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from k3os.apiserver.errors import BadRequest, Invalid, UnsupportedMediaType
from k3os.apiserver.protobuf import decode_kubernetes_protobuf
from k3os.apiserver.registry import BUILTINS
from k3os.apiserver.schemas import normalized
from k3os.apiserver.validation import check_object, raise_for, validate_name

DEFS = normalized(tuple(sorted(rt.definition for rt in BUILTINS)))
POD = "io.k8s.api.core.v1.Pod"


def _pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}], **spec}}


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        ({"hostNetwork": "yes"}, "spec.hostNetwork: expected boolean, got string"),
        ({"priority": "high"}, "spec.priority: expected integer, got string"),
        ({"priority": True}, "spec.priority: expected integer, got bool"),
        ({"containers": {"name": "c"}}, "spec.containers: expected array, got object"),
        ({"securityContext": []}, "spec.securityContext: expected object, got array"),
        ({"schedulerName": 3}, "spec.schedulerName: expected string, got number"),
        ({"overhead": {"cpu": [1]}}, "spec.overhead.cpu: expected a quantity"),
        ({"containers": [{"name": "c", "ports": [{"containerPort": None, "hostIP": 1}]}]},
         "spec.containers[0].ports[0].hostIP"),
    ],
)  # fmt: skip
def test_type_errors_name_the_field(spec: dict[str, Any], where: str) -> None:
    checked = check_object(DEFS, POD, _pod(**spec))
    with pytest.raises(BadRequest) as err:
        raise_for(checked, kind="Pod", name="p", group="", version="v1", mode="Strict")
    assert where in err.value.message


def test_numbers_int_or_string_and_required_fields() -> None:
    ok = check_object(DEFS, POD, _pod(priority=3.0, activeDeadlineSeconds=5))
    assert ok.obj["spec"]["priority"] == 3 and not ok.type_errors
    probe = {"httpGet": {"port": "http"}, "periodSeconds": 1}
    checked = check_object(DEFS, POD, _pod(containers=[{"name": "c", "livenessProbe": probe}]))
    assert not checked.type_errors
    bad_port = {"httpGet": {"port": 1.5}}
    checked = check_object(DEFS, POD, _pod(containers=[{"name": "c", "readinessProbe": bad_port}]))
    assert checked.type_errors
    missing = check_object(DEFS, POD, {"metadata": {"name": "p"}, "spec": {"containers": [{}]}})
    with pytest.raises(Invalid) as err:
        raise_for(missing, kind="Pod", name="p", group="", version="v1", mode="Warn")
    assert err.value.details["causes"][0]["field"] == "spec.containers[0].name"
    quantity = check_object(DEFS, POD, _pod(overhead={"cpu": "1", "memory": 5}))
    assert not quantity.type_errors
    assert check_object(DEFS, POD, None).obj is None


def test_names() -> None:
    assert validate_name("Not_ok")
    assert not validate_name("ok-name") and not validate_name("ok.name-2")
    assert validate_name("a" * 254)
    assert validate_name("dots.not.ok", label=True)
    assert validate_name("b" * 64, label=True)
    assert not validate_name("fine", label=True)


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _int(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _envelope(api_version: str, kind: str, message: bytes) -> bytes:
    return (
        b"k8s\x00"
        + _bytes(1, _bytes(1, api_version.encode()) + _bytes(2, kind.encode()))
        + (_bytes(2, message))
    )


def test_protobuf_object_meta_in_full() -> None:
    time = _int(1, 1_700_000_000) + _int(2, 5_000)
    owner = _bytes(1, b"Node") + _bytes(3, b"n1") + _bytes(4, b"u-1") + _bytes(5, b"v1")
    owner += _int(6, 1)
    managed = _bytes(1, b"kubectl") + _bytes(2, b"Update") + _bytes(4, time[:0] + time)
    managed += _bytes(7, _bytes(1, b'{"f:data":{}}'))
    meta = (
        _bytes(1, b"n") + _bytes(3, b"ns") + _int(7, 4) + _bytes(8, _int(1, 1_700_000_000))
        + _bytes(9, time) + _int(10, (1 << 64) - 1) + _bytes(12, _bytes(1, b"a") + _bytes(2, b""))
        + _bytes(13, owner) + _bytes(17, managed) + _bytes(99, b"ignored")
    )  # fmt: skip
    sa = _bytes(1, meta) + _bytes(2, _bytes(3, b"tok")) + _bytes(3, _bytes(1, b"pull"))
    sa += _int(4, 0)
    obj = decode_kubernetes_protobuf(_envelope("v1", "ServiceAccount", sa), DEFS)
    m = obj["metadata"]
    assert (m["name"], m["namespace"], m["generation"]) == ("n", "ns", 4)
    assert m["creationTimestamp"] == "2023-11-14T22:13:20Z"
    assert m["deletionTimestamp"] == "2023-11-14T22:13:20.000005Z"
    assert m["deletionGracePeriodSeconds"] == -1
    assert m["annotations"] == {"a": ""}
    assert m["ownerReferences"] == [
        {"kind": "Node", "name": "n1", "uid": "u-1", "apiVersion": "v1", "controller": True}
    ]
    assert m["managedFields"][0]["fieldsV1"] == {"f:data": {}}
    assert obj["secrets"] == [{"name": "tok"}] and obj["imagePullSecrets"] == [{"name": "pull"}]
    assert obj["automountServiceAccountToken"] is False
    options = _int(1, 30) + _bytes(2, _bytes(1, b"uid")) + _bytes(5, b"All")
    delete = decode_kubernetes_protobuf(_envelope("v1", "DeleteOptions", options), DEFS)
    assert delete["preconditions"] == {"uid": "uid"} and delete["dryRun"] == ["All"]
    assert delete["gracePeriodSeconds"] == 30


def test_protobuf_errors() -> None:
    with pytest.raises(UnsupportedMediaType):
        decode_kubernetes_protobuf(_envelope("v1", "Pod", b""), DEFS)
    with pytest.raises(BadRequest):
        decode_kubernetes_protobuf(b"k8s\x00" + b"\x0f", DEFS)  # wire type 7
    with pytest.raises(BadRequest):
        decode_kubernetes_protobuf(b"k8s\x00" + b"\x80" * 11, DEFS)
    fixed = b"k8s\x00" + _varint(9 << 3 | 1) + struct.pack("<d", 1.0) + _varint(10 << 3 | 5)
    fixed += b"\x00" * 4
    with pytest.raises(UnsupportedMediaType):  # fixed-width fields skipped, then no kind
        decode_kubernetes_protobuf(fixed, DEFS)
    with pytest.raises(BadRequest):
        decode_kubernetes_protobuf(b"nope", DEFS)
