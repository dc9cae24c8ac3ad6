"""API errors as exceptions that know their Kubernetes ``Status`` wire form.

Handlers raise these; the HTTP layer calls ``.to_status()`` and answers with
``.code``. Messages follow the upstream apiserver formats that clients and users grep
for (``pods "x" not found``, ``Operation cannot be fulfilled on ...``).

    APIError                        (500, InternalError when raised as is)
    ├── BadRequest                  400 BadRequest
    ├── Unauthorized                401 Unauthorized
    ├── Forbidden                   403 Forbidden
    ├── NotFound                    404 NotFound
    ├── MethodNotAllowed            405 MethodNotAllowed
    ├── NotAcceptable               406 NotAcceptable
    ├── AlreadyExists               409 AlreadyExists
    ├── Conflict                    409 Conflict
    │   └── ApplyConflict           409 Conflict, one FieldManagerConflict cause per field
    ├── Gone                        410 Gone
    │   └── Expired                 410 Expired (compacted resourceVersion, stale continue)
    ├── RequestEntityTooLarge       413 RequestEntityTooLarge
    ├── UnsupportedMediaType        415 UnsupportedMediaType
    ├── Invalid                     422 Invalid, one cause per FieldError
    ├── TooManyRequests             429 TooManyRequests (retryAfterSeconds)
    ├── InternalError               500 InternalError
    ├── ServiceUnavailable          503 ServiceUnavailable
    └── Timeout                     504 Timeout (retryAfterSeconds)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NotRequired, TypedDict

__all__ = [
    "APIError",
    "AlreadyExists",
    "ApplyConflict",
    "BadRequest",
    "Conflict",
    "Expired",
    "FieldError",
    "FieldErrorType",
    "Forbidden",
    "Gone",
    "InternalError",
    "Invalid",
    "ManagerConflict",
    "MethodNotAllowed",
    "NotAcceptable",
    "NotFound",
    "RequestEntityTooLarge",
    "ServiceUnavailable",
    "StatusCause",
    "StatusDetails",
    "StatusDict",
    "Timeout",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
    "json_type",
    "qualified_resource",
]


class StatusCause(TypedDict, total=False):
    reason: str
    message: str
    field: str


class StatusDetails(TypedDict, total=False):
    name: str
    group: str
    kind: str
    uid: str
    causes: list[StatusCause]
    retryAfterSeconds: int


class StatusDict(TypedDict):
    kind: Literal["Status"]
    apiVersion: Literal["v1"]
    metadata: dict[str, Any]
    status: Literal["Failure"]
    message: str
    reason: str
    code: int
    details: NotRequired[StatusDetails]


def qualified_resource(resource: str, group: str = "") -> str:
    """``pods`` for the core group, ``leases.coordination.k8s.io`` otherwise."""
    return f"{resource}.{group}" if group else resource


class APIError(Exception):
    """An error with a Kubernetes ``Status`` form. Raised as is, it is a 500."""

    code: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"

    def __init__(self, message: str, *, details: StatusDetails | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: StatusDetails = details or {}

    def to_status(self) -> StatusDict:
        status: StatusDict = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            status["details"] = dict(self.details)  # type: ignore[typeddict-item]
        return status


def _resource_details(resource: str, group: str, name: str) -> StatusDetails:
    details: StatusDetails = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    details["kind"] = resource
    return details


class BadRequest(APIError):
    code = 400
    reason = "BadRequest"


class Unauthorized(APIError):
    code = 401
    reason = "Unauthorized"

    def __init__(self, message: str = "Unauthorized") -> None:
        super().__init__(message)


class Forbidden(APIError):
    """``pods "x" is forbidden: <why>``; the resource part is omitted when unknown."""

    code = 403
    reason = "Forbidden"

    def __init__(self, why: str, *, resource: str = "", group: str = "", name: str = "") -> None:
        if not resource:
            super().__init__(f"forbidden: {why}")
            return
        target = qualified_resource(resource, group)
        target = f'{target} "{name}"' if name else target
        super().__init__(
            f"{target} is forbidden: {why}", details=_resource_details(resource, group, name)
        )


class NotFound(APIError):
    code = 404
    reason = "NotFound"

    def __init__(self, resource: str, name: str, *, group: str = "") -> None:
        super().__init__(
            f'{qualified_resource(resource, group)} "{name}" not found',
            details=_resource_details(resource, group, name),
        )


class MethodNotAllowed(APIError):
    code = 405
    reason = "MethodNotAllowed"

    def __init__(self, resource: str, action: str, *, group: str = "") -> None:
        target = qualified_resource(resource, group)
        super().__init__(
            f'{action} is not supported on resources of kind "{target}"',
            details=_resource_details(resource, group, ""),
        )


class NotAcceptable(APIError):
    code = 406
    reason = "NotAcceptable"

    def __init__(self, accepted: Sequence[str]) -> None:
        super().__init__("only the following media types are accepted: " + ", ".join(accepted))


class AlreadyExists(APIError):
    code = 409
    reason = "AlreadyExists"

    def __init__(self, resource: str, name: str, *, group: str = "") -> None:
        super().__init__(
            f'{qualified_resource(resource, group)} "{name}" already exists',
            details=_resource_details(resource, group, name),
        )


STALE_OBJECT = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


class Conflict(APIError):
    """``Operation cannot be fulfilled on pods "x": <why>``; ``why`` defaults to the
    optimistic-concurrency text clients show for a stale resourceVersion."""

    code = 409
    reason = "Conflict"

    def __init__(
        self, resource: str, name: str, why: str = STALE_OBJECT, *, group: str = ""
    ) -> None:
        target = qualified_resource(resource, group)
        super().__init__(
            f'Operation cannot be fulfilled on {target} "{name}": {why}',
            details=_resource_details(resource, group, name),
        )


@dataclass(frozen=True)
class ManagerConflict:
    """One field that another field manager owns, for :class:`ApplyConflict`."""

    manager: str  # how upstream prints it: '"kubectl" using v1' or '"mgr"'
    field: str  # '.spec.replicas', '.data.key', '.spec.containers[name="c"].image'


class ApplyConflict(Conflict):
    """Server-side apply touched fields other managers own (and ``force`` was not set)."""

    def __init__(self, conflicts: Sequence[ManagerConflict]) -> None:
        by_manager: dict[str, list[str]] = {}
        for c in conflicts:
            by_manager.setdefault(c.manager, []).append(c.field)
        count = len(conflicts)
        if count == 1:
            only = conflicts[0]
            message = f"Apply failed with 1 conflict: conflict with {only.manager}: {only.field}"
        else:
            lines = []
            for manager in sorted(by_manager):
                lines.append(f"conflicts with {manager}:")
                lines.extend(f"- {f}" for f in by_manager[manager])
            message = f"Apply failed with {count} conflicts: " + "\n".join(lines)
        APIError.__init__(
            self,
            message,
            details={
                "causes": [
                    {
                        "reason": "FieldManagerConflict",
                        "message": f"conflict with {c.manager}",
                        "field": c.field,
                    }
                    for c in conflicts
                ]
            },
        )
        self.conflicts = list(conflicts)


class Gone(APIError):
    code = 410
    reason = "Gone"


class Expired(Gone):
    """A compacted resourceVersion or an expired continue token.

    ``continue_token`` (the inconsistent-continue token upstream offers with an
    expired page) goes in the Status ``metadata.continue``.
    """

    reason = "Expired"

    def __init__(self, message: str, *, continue_token: str = "") -> None:
        super().__init__(message)
        self.continue_token = continue_token

    @classmethod
    def too_old(cls, requested: int | str, oldest: int | str) -> Expired:
        return cls(f"too old resource version: {requested} ({oldest})")

    def to_status(self) -> StatusDict:
        status = super().to_status()
        if self.continue_token:
            status["metadata"] = {"continue": self.continue_token}
        return status


class RequestEntityTooLarge(APIError):
    code = 413
    reason = "RequestEntityTooLarge"


class UnsupportedMediaType(APIError):
    code = 415
    reason = "UnsupportedMediaType"

    def __init__(self, accepted: Sequence[str]) -> None:
        super().__init__(
            "the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(accepted)
        )


FieldErrorType = Literal[
    "FieldValueNotFound",
    "FieldValueRequired",
    "FieldValueDuplicate",
    "FieldValueInvalid",
    "FieldValueNotSupported",
    "FieldValueForbidden",
    "FieldValueTooLong",
    "FieldValueTooMany",
    "FieldValueTypeInvalid",
    "InternalError",
]

_TYPE_TEXT: dict[str, str] = {
    "FieldValueNotFound": "Not found",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "FieldValueTypeInvalid": "Invalid value",
    "InternalError": "Internal error",
}
# These types never print the offending value (it is absent, or too big to echo).
_VALUELESS = {"FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong", "InternalError"}

_OMIT = object()


def json_type(value: Any) -> str:
    """How field errors name a JSON value's type: "object", "integer", "null", ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _show_value(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


@dataclass(frozen=True)
class FieldError:
    """One validation failure at a field path (``spec.containers[0].image``)."""

    type: FieldErrorType
    field: str
    value: Any = _OMIT
    detail: str = ""

    @classmethod
    def required(cls, field: str, detail: str = "") -> FieldError:
        return cls("FieldValueRequired", field, detail=detail)

    @classmethod
    def invalid(cls, field: str, value: Any, detail: str = "") -> FieldError:
        return cls("FieldValueInvalid", field, value, detail)

    @classmethod
    def not_supported(cls, field: str, value: Any, supported: Iterable[str]) -> FieldError:
        options = ", ".join(_show_value(s) for s in supported)
        return cls("FieldValueNotSupported", field, value, f"supported values: {options}")

    @classmethod
    def duplicate(cls, field: str, value: Any) -> FieldError:
        return cls("FieldValueDuplicate", field, value)

    @classmethod
    def forbidden(cls, field: str, detail: str) -> FieldError:
        return cls("FieldValueForbidden", field, detail=detail)

    @classmethod
    def not_found(cls, field: str, value: Any) -> FieldError:
        return cls("FieldValueNotFound", field, value)

    @classmethod
    def too_long(cls, field: str, max_length: int) -> FieldError:
        return cls("FieldValueTooLong", field, detail=f"may not be more than {max_length} bytes")

    @classmethod
    def type_invalid(cls, field: str, value: Any, detail: str) -> FieldError:
        return cls("FieldValueTypeInvalid", field, value, detail)

    def body(self) -> str:
        """The message without the field path (the Status cause ``message``)."""
        text = _TYPE_TEXT[self.type]
        if self.type not in _VALUELESS and self.value is not _OMIT:
            text = f"{text}: {_show_value(self.value)}"
        if self.detail:
            text = f"{text}: {self.detail}"
        return text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}" if self.field else self.body()

    def to_cause(self) -> StatusCause:
        return {"reason": self.type, "message": self.body(), "field": self.field}


class Invalid(APIError):
    """``Pod "x" is invalid: <errors>``; one Status cause per field error."""

    code = 422
    reason = "Invalid"

    def __init__(
        self, kind: str, name: str, errors: Sequence[FieldError], *, group: str = ""
    ) -> None:
        if len(errors) == 1:
            summary = str(errors[0])
        else:
            summary = "[" + ", ".join(str(e) for e in errors) + "]"
        details = _resource_details(kind, group, name)
        details["causes"] = [e.to_cause() for e in errors]
        target = qualified_resource(kind, group)
        super().__init__(f'{target} "{name}" is invalid: {summary}', details=details)
        self.errors = list(errors)


class TooManyRequests(APIError):
    """429; an eviction blocked by a PodDisruptionBudget carries a DisruptionBudget cause."""

    code = 429
    reason = "TooManyRequests"

    def __init__(
        self,
        message: str,
        *,
        retry_after_seconds: int = 0,
        causes: Sequence[StatusCause] = (),
    ) -> None:
        details: StatusDetails = {}
        if retry_after_seconds:
            details["retryAfterSeconds"] = retry_after_seconds
        if causes:
            details["causes"] = list(causes)
        super().__init__(message, details=details)
        self.retry_after_seconds = retry_after_seconds

    @classmethod
    def disruption_budget(cls, pdb_name: str, why: str) -> TooManyRequests:
        """The eviction answer kubectl drain retries on."""
        return cls(
            "Cannot evict pod as it would violate the pod's disruption budget.",
            causes=[
                {"reason": "DisruptionBudget", "message": f"The disruption budget {pdb_name} {why}"}
            ],
        )


class InternalError(APIError):
    """``Internal error occurred: <why>``."""

    def __init__(self, why: str) -> None:
        super().__init__(f"Internal error occurred: {why}", details={"causes": [{"message": why}]})


class ServiceUnavailable(APIError):
    code = 503
    reason = "ServiceUnavailable"


class Timeout(APIError):
    code = 504
    reason = "Timeout"

    def __init__(self, message: str, *, retry_after_seconds: int = 0) -> None:
        details: StatusDetails = {}
        if retry_after_seconds:
            details["retryAfterSeconds"] = retry_after_seconds
        super().__init__(message, details=details)
        self.retry_after_seconds = retry_after_seconds

    @classmethod
    def too_large_resource_version(cls, requested: int, current: int) -> Timeout:
        return cls(
            f"Too large resource version: {requested}, current: {current}",
            retry_after_seconds=1,
        )
