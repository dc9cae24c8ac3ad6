"""The Status objects the API server answers errors with."""

from __future__ import annotations

import pytest

from k3os.apiserver import errors as e

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("error", "code", "reason", "message", "details"),
    [
        (
            e.NotFound("pods", "x"),
            404,
            "NotFound",
            'pods "x" not found',
            {"name": "x", "kind": "pods"},
        ),
        (
            e.NotFound("leases", "l", group="coordination.k8s.io"),
            404,
            "NotFound",
            'leases.coordination.k8s.io "l" not found',
            {"name": "l", "group": "coordination.k8s.io", "kind": "leases"},
        ),
        (
            e.AlreadyExists("configmaps", "c"),
            409,
            "AlreadyExists",
            'configmaps "c" already exists',
            {"name": "c", "kind": "configmaps"},
        ),
        (
            e.Conflict("nodes", "n1"),
            409,
            "Conflict",
            'Operation cannot be fulfilled on nodes "n1": the object has been modified; '
            "please apply your changes to the latest version and try again",
            {"name": "n1", "kind": "nodes"},
        ),
        (
            e.Conflict("namespaces", "ns", "The system is ensuring all content is removed"),
            409,
            "Conflict",
            'Operation cannot be fulfilled on namespaces "ns": '
            "The system is ensuring all content is removed",
            {"name": "ns", "kind": "namespaces"},
        ),
        (e.BadRequest("bad limit"), 400, "BadRequest", "bad limit", None),
        (e.Unauthorized(), 401, "Unauthorized", "Unauthorized", None),
        (
            e.Forbidden(
                'User "bob" cannot list resource "pods" in API group "" in the namespace "a"',
                resource="pods",
            ),
            403,
            "Forbidden",
            'pods is forbidden: User "bob" cannot list resource "pods" in API group "" '
            'in the namespace "a"',
            {"kind": "pods"},
        ),
        (
            e.Forbidden("no", resource="roles", group="rbac.authorization.k8s.io", name="r"),
            403,
            "Forbidden",
            'roles.rbac.authorization.k8s.io "r" is forbidden: no',
            {"name": "r", "group": "rbac.authorization.k8s.io", "kind": "roles"},
        ),
        (e.Forbidden("nope"), 403, "Forbidden", "forbidden: nope", None),
        (
            e.MethodNotAllowed("pods", "deletecollection"),
            405,
            "MethodNotAllowed",
            'deletecollection is not supported on resources of kind "pods"',
            {"kind": "pods"},
        ),
        (
            e.NotAcceptable(["application/json", "application/yaml"]),
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json, application/yaml",
            None,
        ),
        (e.Gone("gone"), 410, "Gone", "gone", None),
        (
            e.Expired.too_old(5, 90),
            410,
            "Expired",
            "too old resource version: 5 (90)",
            None,
        ),
        (e.RequestEntityTooLarge("too big"), 413, "RequestEntityTooLarge", "too big", None),
        (
            e.UnsupportedMediaType(["application/json-patch+json"]),
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json-patch+json",
            None,
        ),
        (
            e.TooManyRequests("slow down", retry_after_seconds=3),
            429,
            "TooManyRequests",
            "slow down",
            {"retryAfterSeconds": 3},
        ),
        (
            e.InternalError("disk on fire"),
            500,
            "InternalError",
            "Internal error occurred: disk on fire",
            {"causes": [{"message": "disk on fire"}]},
        ),
        (e.APIError("raw"), 500, "InternalError", "raw", None),
        (e.ServiceUnavailable("starting"), 503, "ServiceUnavailable", "starting", None),
        (e.Timeout("slow"), 504, "Timeout", "slow", None),
        (
            e.Timeout.too_large_resource_version(99, 10),
            504,
            "Timeout",
            "Too large resource version: 99, current: 10",
            {"retryAfterSeconds": 1},
        ),
    ],
)
def test_status_wire_form(
    error: e.APIError, code: int, reason: str, message: str, details: object
) -> None:
    status = error.to_status()
    assert status["kind"] == "Status"
    assert status["apiVersion"] == "v1"
    assert status["status"] == "Failure"
    assert status["code"] == code == error.code
    assert status["reason"] == reason
    assert status["message"] == message == str(error)
    assert status.get("details") == details
    assert isinstance(error, e.APIError)


def test_expired_carries_inconsistent_continue_token() -> None:
    status = e.Expired("continue expired", continue_token="abc").to_status()
    assert status["metadata"] == {"continue": "abc"}
    assert e.Expired("x").to_status()["metadata"] == {}
    assert isinstance(e.Expired("x"), e.Gone)


@pytest.mark.parametrize(
    ("field_error", "text", "reason"),
    [
        (
            e.FieldError.required("metadata.name"),
            "metadata.name: Required value",
            "FieldValueRequired",
        ),
        (
            e.FieldError.required("spec.x", "must be set when y"),
            "spec.x: Required value: must be set when y",
            "FieldValueRequired",
        ),
        (
            e.FieldError.invalid("metadata.name", "A_b", "a lowercase RFC 1123 subdomain"),
            'metadata.name: Invalid value: "A_b": a lowercase RFC 1123 subdomain',
            "FieldValueInvalid",
        ),
        (
            e.FieldError.invalid("spec.replicas", -1, "must be >= 0"),
            "spec.replicas: Invalid value: -1: must be >= 0",
            "FieldValueInvalid",
        ),
        (
            e.FieldError.invalid("spec.flag", True),
            "spec.flag: Invalid value: true",
            "FieldValueInvalid",
        ),
        (
            e.FieldError.invalid("spec.o", {"b": 1, "a": None}),
            'spec.o: Invalid value: {"a":null,"b":1}',
            "FieldValueInvalid",
        ),
        (
            e.FieldError.invalid("spec.q", 'say "hi"'),
            'spec.q: Invalid value: "say \\"hi\\""',
            "FieldValueInvalid",
        ),
        (
            e.FieldError.invalid("spec.n", None),
            "spec.n: Invalid value: null",
            "FieldValueInvalid",
        ),
        (
            e.FieldError.invalid("spec.t", 1.5),
            "spec.t: Invalid value: 1.5",
            "FieldValueInvalid",
        ),
        (
            e.FieldError.invalid("spec.t", b"raw"),
            "spec.t: Invalid value: b'raw'",
            "FieldValueInvalid",
        ),
        (
            e.FieldError.not_supported("spec.policy", "Sometimes", ["Always", "Never"]),
            'spec.policy: Unsupported value: "Sometimes": supported values: "Always", "Never"',
            "FieldValueNotSupported",
        ),
        (
            e.FieldError.duplicate("spec.containers[1].name", "a"),
            'spec.containers[1].name: Duplicate value: "a"',
            "FieldValueDuplicate",
        ),
        (
            e.FieldError.forbidden("spec.nodeName", "may not be changed"),
            "spec.nodeName: Forbidden: may not be changed",
            "FieldValueForbidden",
        ),
        (
            e.FieldError.not_found("spec.ref", "missing"),
            'spec.ref: Not found: "missing"',
            "FieldValueNotFound",
        ),
        (
            e.FieldError.too_long("metadata.annotations", 262144),
            "metadata.annotations: Too long: may not be more than 262144 bytes",
            "FieldValueTooLong",
        ),
        (
            e.FieldError.type_invalid("spec.replicas", "x", "expected integer"),
            'spec.replicas: Invalid value: "x": expected integer',
            "FieldValueTypeInvalid",
        ),
        (e.FieldError("InternalError", "", detail="boom"), "Internal error: boom", "InternalError"),
    ],
)
def test_field_error_text(field_error: e.FieldError, text: str, reason: str) -> None:
    assert str(field_error) == text
    cause = field_error.to_cause()
    assert cause["reason"] == reason
    assert cause["field"] == field_error.field
    assert f"{field_error.field}: {cause['message']}".lstrip(": ") == text


def test_invalid_single_and_many() -> None:
    one = e.Invalid("Pod", "p", [e.FieldError.required("spec.containers")])
    assert one.message == 'Pod "p" is invalid: spec.containers: Required value'
    assert one.code == 422
    status = one.to_status()
    assert status["reason"] == "Invalid"
    assert status["details"] == {
        "name": "p",
        "kind": "Pod",
        "causes": [
            {
                "reason": "FieldValueRequired",
                "message": "Required value",
                "field": "spec.containers",
            }
        ],
    }
    many = e.Invalid(
        "Lease",
        "l",
        [e.FieldError.required("spec.a"), e.FieldError.invalid("spec.b", 3, "too big")],
        group="coordination.k8s.io",
    )
    assert many.message == (
        'Lease.coordination.k8s.io "l" is invalid: '
        "[spec.a: Required value, spec.b: Invalid value: 3: too big]"
    )
    assert many.to_status()["details"]["group"] == "coordination.k8s.io"
    assert len(many.errors) == 2
    nameless = e.Invalid("ConfigMap", "", [e.FieldError.required("metadata.name")])
    assert "name" not in nameless.to_status()["details"]


def test_apply_conflict_one_and_many() -> None:
    one = e.ApplyConflict([e.ManagerConflict('"kubectl" using v1', ".data.a")])
    assert one.message == 'Apply failed with 1 conflict: conflict with "kubectl" using v1: .data.a'
    assert one.code == 409
    assert one.reason == "Conflict"
    assert isinstance(one, e.Conflict)
    assert one.to_status()["details"] == {
        "causes": [
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "kubectl" using v1',
                "field": ".data.a",
            }
        ]
    }
    many = e.ApplyConflict(
        [
            e.ManagerConflict('"z"', ".spec.b"),
            e.ManagerConflict('"a"', ".spec.a"),
            e.ManagerConflict('"z"', ".spec.c"),
        ]
    )
    assert many.message == (
        'Apply failed with 3 conflicts: conflicts with "a":\n- .spec.a\n'
        'conflicts with "z":\n- .spec.b\n- .spec.c'
    )
    assert len(many.to_status()["details"]["causes"]) == 3


def test_eviction_blocked_by_budget() -> None:
    err = e.TooManyRequests.disruption_budget("web", "needs 2 healthy pods and has 2 currently")
    status = err.to_status()
    assert status["code"] == 429
    assert status["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert status["details"] == {
        "causes": [
            {
                "reason": "DisruptionBudget",
                "message": "The disruption budget web needs 2 healthy pods and has 2 currently",
            }
        ]
    }


def test_to_status_is_a_fresh_dict() -> None:
    err = e.NotFound("pods", "x")
    err.to_status()["details"]["name"] = "changed"
    assert err.to_status()["details"]["name"] == "x"


def test_qualified_resource() -> None:
    assert e.qualified_resource("pods") == "pods"
    assert e.qualified_resource("roles", "rbac.authorization.k8s.io") == (
        "roles.rbac.authorization.k8s.io"
    )
