"""Label and field selectors: parsing, validation and matching.

Label selectors come from the ``labelSelector`` query parameter (``a=b,c!=d,e in (f,g),
!h``) or from ``LabelSelector`` objects (``matchLabels``/``matchExpressions``, as in
PodDisruptionBudgets and NodeConfig ``nodeSelector``). Field selectors
(``spec.nodeName=n1,status.phase!=Failed``) are checked against a per-resource table of
selectable fields; an unknown field is rejected the way upstream does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from k3os.apiserver.errors import BadRequest, FieldError
from k3os.apiserver.validation import dns1123_problems

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "LabelRequirement",
    "LabelSelector",
    "SelectorError",
    "check_field_selector",
    "field_set",
    "label_selector_from_object",
    "parse_field_selector",
    "parse_label_selector",
    "selectable_fields",
    "validate_label_selector",
]

LabelOperator = Literal["=", "!=", "in", "notin", "exists", "!", "gt", "lt"]


class SelectorError(BadRequest):
    """A selector that cannot be parsed or names a field the resource cannot select on."""


# --- label keys and values (qualified names, as upstream validates them) -------------------

_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def _key_problems(key: str) -> list[str]:
    prefix, slash, name = key.rpartition("/")
    problems: list[str] = []
    if slash:
        found = dns1123_problems(prefix) if prefix else ["must be non-empty"]
        problems = ["prefix part " + p for p in found]
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part must be no more than 63 characters")
    elif not _NAME.match(name):
        problems.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
            "start and end with an alphanumeric character"
        )
    return problems


def _value_problems(value: str) -> list[str]:
    if len(value) > 63:
        return ["must be no more than 63 characters"]
    if value and not _NAME.match(value):
        return [
            "a valid label must be an empty string or consist of alphanumeric characters, "
            "'-', '_' or '.', and must start and end with an alphanumeric character"
        ]
    return []


# --- label selectors -----------------------------------------------------------------------


@dataclass(frozen=True)
class LabelRequirement:
    """One term of a label selector."""

    key: str
    operator: LabelOperator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        match self.operator:
            case "=" | "in":
                return present and value in self.values
            case "!=" | "notin":
                return not present or value not in self.values
            case "exists":
                return present
            case "!":
                return not present
            case _:  # gt / lt: both sides must be integers
                if not present or not re.fullmatch(r"-?\d+", value):
                    return False
                bound = int(self.values[0])
                return int(value) > bound if self.operator == "gt" else int(value) < bound

    def __str__(self) -> str:
        match self.operator:
            case "exists":
                return self.key
            case "!":
                return f"!{self.key}"
            case "=" | "!=":
                return f"{self.key}{self.operator}{self.values[0]}"
            case "gt":
                return f"{self.key}>{self.values[0]}"
            case "lt":
                return f"{self.key}<{self.values[0]}"
            case _:
                return f"{self.key} {self.operator} ({','.join(self.values)})"


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements. Empty matches everything; ``nothing`` matches none
    (what a null ``LabelSelector`` object means upstream)."""

    requirements: tuple[LabelRequirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements and not self.nothing

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


_SPECIAL = "!=,()<>"


@dataclass(frozen=True)
class _Token:
    kind: str  # "id", "in", "notin", "!", "=", "==", "!=", "(", ")", ",", ">", "<", "end"
    text: str
    pos: int


def _lex(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c in _SPECIAL:
            two = text[i : i + 2]
            if two in ("==", "!="):
                tokens.append(_Token(two, two, i))
                i += 2
            else:
                tokens.append(_Token(c, c, i))
                i += 1
        else:
            start = i
            while i < len(text) and not text[i].isspace() and text[i] not in _SPECIAL:
                i += 1
            word = text[start:i]
            kind = word if word in ("in", "notin") else "id"
            tokens.append(_Token(kind, word, start))
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _LabelParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _lex(text)
        self.i = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, tok: _Token, expected: str) -> SelectorError:
        found = tok.text or "end of input"
        return SelectorError(
            f"unable to parse label selector {self.text!r}: found '{found}' at position "
            f"{tok.pos}, expected: {expected}"
        )

    def parse(self) -> LabelSelector:
        reqs: list[LabelRequirement] = []
        if self.peek().kind == "end":
            return LabelSelector()
        while True:
            reqs.append(self.requirement())
            tok = self.take()
            if tok.kind == "end":
                break
            if tok.kind != ",":
                raise self.fail(tok, "',' or end of input")
        return _checked(reqs)

    def requirement(self) -> LabelRequirement:
        tok = self.take()
        if tok.kind == "!":
            name = self.take()
            if name.kind != "id":
                raise self.fail(name, "a label key after '!'")
            return LabelRequirement(name.text, "!")
        if tok.kind != "id":
            raise self.fail(tok, "a label key or '!'")
        key = tok.text
        op = self.peek()
        if op.kind in (",", "end"):
            return LabelRequirement(key, "exists")
        self.take()
        if op.kind in ("=", "=="):
            return LabelRequirement(key, "=", (self.single_value(),))
        if op.kind == "!=":
            return LabelRequirement(key, "!=", (self.single_value(),))
        if op.kind in (">", "<"):
            value = self.single_value()
            if not re.fullmatch(r"-?\d+", value):
                raise SelectorError(
                    f"unable to parse label selector {self.text!r}: for '{op.kind}', the "
                    f"value must be an integer, got {value!r}"
                )
            return LabelRequirement(key, "gt" if op.kind == ">" else "lt", (value,))
        if op.kind in ("in", "notin"):
            return LabelRequirement(key, op.kind, self.value_set(op.kind))  # type: ignore[arg-type]
        raise self.fail(op, "'=', '==', '!=', 'in', 'notin', '>', '<', ',' or end of input")

    def single_value(self) -> str:
        tok = self.peek()
        if tok.kind in ("id", "in", "notin"):
            self.take()
            return tok.text
        if tok.kind in (",", "end"):
            return ""  # `a=` selects the empty value
        raise self.fail(tok, "a label value")

    def value_set(self, op: str) -> tuple[str, ...]:
        tok = self.take()
        if tok.kind != "(":
            raise self.fail(tok, "'('")
        values: list[str] = []
        expect_value = True
        while True:
            tok = self.take()
            if tok.kind == ")":
                if expect_value and values:
                    values.append("")  # a trailing comma stands for the empty value
                break
            if tok.kind == "," and expect_value:
                values.append("")
                continue
            if tok.kind == "," and not expect_value:
                expect_value = True
                continue
            if tok.kind in ("id", "in", "notin") and expect_value:
                values.append(tok.text)
                expect_value = False
                continue
            raise self.fail(tok, "a value, ',' or ')'")
        if not values:
            raise SelectorError(
                f"unable to parse label selector {self.text!r}: for '{op}' the set of "
                "values can't be empty"
            )
        return tuple(sorted(set(values)))


def _checked(reqs: Sequence[LabelRequirement]) -> LabelSelector:
    for r in reqs:
        problems = _key_problems(r.key)
        if problems:
            raise SelectorError(
                f'unable to parse requirement: key: Invalid value: "{r.key}": '
                + "; ".join(problems)
            )
        for value in r.values if r.operator not in ("gt", "lt") else ():
            problems = _value_problems(value)
            if problems:
                raise SelectorError(
                    f'unable to parse requirement: values[0][{r.key}]: Invalid value: "{value}": '
                    + "; ".join(problems)
                )
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse the ``labelSelector`` query string; raise :class:`SelectorError` on bad input."""
    return _LabelParser(text or "").parse()


_OBJECT_OPERATORS: dict[str, LabelOperator] = {
    "In": "in",
    "NotIn": "notin",
    "Exists": "exists",
    "DoesNotExist": "!",
}


def validate_label_selector(obj: Any, path: str = "selector") -> list[FieldError]:
    """Field errors of a ``LabelSelector`` object (empty when it is valid)."""
    errs: list[FieldError] = []
    if obj is None:
        return errs
    if not isinstance(obj, Mapping):
        return [FieldError.type_invalid(path, obj, "expected an object")]
    match_labels = obj.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        errs.append(FieldError.type_invalid(f"{path}.matchLabels", match_labels, "expected a map"))
        match_labels = {}
    for key, value in match_labels.items():
        for problem in _key_problems(str(key)):
            errs.append(FieldError.invalid(f"{path}.matchLabels", key, problem))
        if not isinstance(value, str):
            errs.append(
                FieldError.type_invalid(f"{path}.matchLabels[{key}]", value, "expected a string")
            )
            continue
        for problem in _value_problems(value):
            errs.append(FieldError.invalid(f"{path}.matchLabels", value, problem))
    expressions = obj.get("matchExpressions") or []
    if not isinstance(expressions, list):
        errs.append(
            FieldError.type_invalid(f"{path}.matchExpressions", expressions, "expected a list")
        )
        expressions = []
    for i, expr in enumerate(expressions):
        here = f"{path}.matchExpressions[{i}]"
        if not isinstance(expr, Mapping):
            errs.append(FieldError.type_invalid(here, expr, "expected an object"))
            continue
        key = expr.get("key")
        if not isinstance(key, str) or not key:
            errs.append(FieldError.required(f"{here}.key"))
        else:
            errs.extend(FieldError.invalid(f"{here}.key", key, p) for p in _key_problems(key))
        op = expr.get("operator")
        values = expr.get("values") or []
        if op not in _OBJECT_OPERATORS:
            errs.append(FieldError.not_supported(f"{here}.operator", op, list(_OBJECT_OPERATORS)))
            continue
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            errs.append(
                FieldError.type_invalid(f"{here}.values", values, "expected a list of strings")
            )
            continue
        if op in ("In", "NotIn") and not values:
            errs.append(
                FieldError.required(
                    f"{here}.values", "must be specified when `operator` is 'In' or 'NotIn'"
                )
            )
        if op in ("Exists", "DoesNotExist") and values:
            errs.append(
                FieldError.forbidden(
                    f"{here}.values",
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                )
            )
        for j, value in enumerate(values):
            errs.extend(
                FieldError.invalid(f"{here}.values[{j}]", value, p) for p in _value_problems(value)
            )
    return errs


def label_selector_from_object(obj: Any, path: str = "selector") -> LabelSelector:
    """A ``LabelSelector`` object as a matcher. ``None`` matches nothing, ``{}`` everything.

    Raises :class:`SelectorError` listing every field error when the object is invalid.
    """
    if obj is None:
        return LabelSelector(nothing=True)
    errs = validate_label_selector(obj, path)
    if errs:
        raise SelectorError("invalid label selector: " + "; ".join(str(e) for e in errs))
    reqs = [LabelRequirement(k, "=", (v,)) for k, v in (obj.get("matchLabels") or {}).items()]
    for expr in obj.get("matchExpressions") or []:
        op = _OBJECT_OPERATORS[expr["operator"]]
        values = tuple(sorted(set(expr.get("values") or [])))
        reqs.append(LabelRequirement(expr["key"], op, values))
    return LabelSelector(tuple(sorted(reqs, key=lambda r: (r.key, r.operator))))


# --- field selectors -----------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    operator: Literal["=", "!="]
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        equal = fields.get(self.field) == self.value
        return equal if self.operator == "=" else not equal

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
        return f"{self.field}{self.operator}{escaped}"


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(r.matches(fields) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def fields(self) -> set[str]:
        return {r.field for r in self.requirements}

    def exact(self, field: str) -> str | None:
        """The value ``field`` must equal, if the selector pins it (a store may index on it)."""
        for r in self.requirements:
            if r.field == field and r.operator == "=":
                return r.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, i = [], [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            current.append(text[i : i + 2])
            i += 2
            continue
        if c == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    parts.append("".join(current))
    return parts


def _unescape(value: str, whole: str) -> str:
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "\\":
            if i + 1 >= len(value) or value[i + 1] not in "\\,=":
                raise SelectorError(
                    f"invalid field selector {whole!r}: invalid escape sequence in {value!r}"
                )
            out.append(value[i + 1])
            i += 2
            continue
        if c in ",=":
            raise SelectorError(
                f"invalid field selector {whole!r}: unescaped '{c}' in value {value!r}"
            )
        out.append(c)
        i += 1
    return "".join(out)


def parse_field_selector(text: str | None) -> FieldSelector:
    """Parse ``fieldSelector`` (``a=b``, ``a==b``, ``a!=b``, comma-joined, ``\\``-escapes)."""
    text = text or ""
    if not text.strip():
        return FieldSelector()
    reqs: list[FieldRequirement] = []
    for term in _split_unescaped(text, ","):
        for op, canonical in (("!=", "!="), ("==", "="), ("=", "=")):
            idx = _find_unescaped(term, op)
            if idx >= 0:
                field = term[:idx].strip()
                if not field:
                    raise SelectorError(f"invalid field selector {text!r}: empty field in {term!r}")
                value = _unescape(term[idx + len(op) :], text)
                reqs.append(FieldRequirement(field, canonical, value))  # type: ignore[arg-type]
                break
        else:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
    return FieldSelector(tuple(reqs))


def _find_unescaped(term: str, op: str) -> int:
    i = 0
    while i < len(term):
        if term[i] == "\\":
            i += 2
            continue
        if term.startswith(op, i):
            return i
        i += 1
    return -1


# --- selectable fields per resource --------------------------------------------------------

FieldGetter = Callable[[Mapping[str, Any]], str]


def _path(*keys: str, default: str = "") -> FieldGetter:
    def get(obj: Mapping[str, Any]) -> str:
        node: Any = obj
        for key in keys:
            if not isinstance(node, Mapping):
                return default
            node = node.get(key)
        if node is None:
            return default
        if isinstance(node, bool):
            return "true" if node else "false"
        return str(node)

    return get


_NAMESPACED_META: dict[str, FieldGetter] = {
    "metadata.name": _path("metadata", "name"),
    "metadata.namespace": _path("metadata", "namespace"),
}
_CLUSTER_META: dict[str, FieldGetter] = {"metadata.name": _path("metadata", "name")}


# Booleans upstream prints from Go zero values: unset reads as "false".
_FALSE_WHEN_UNSET = {"spec.unschedulable", "spec.hostNetwork"}


def _fields(base: Mapping[str, FieldGetter], *extra: str) -> dict[str, FieldGetter]:
    table = dict(base)
    for name in extra:
        default = "false" if name in _FALSE_WHEN_UNSET else ""
        table[name] = _path(*name.split("."), default=default)
    return table


_EVENT_FIELDS = _fields(
    _NAMESPACED_META,
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "type",
)
_EVENT_FIELDS["source"] = _path("source", "component")

# (group, resource) -> selectable field -> how to read it from the object.
_TABLE: dict[tuple[str, str], dict[str, FieldGetter]] = {
    ("", "pods"): _fields(
        _NAMESPACED_META,
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    ("", "nodes"): _fields(_CLUSTER_META, "spec.unschedulable"),
    ("", "namespaces"): _fields(_CLUSTER_META, "status.phase"),
    ("", "secrets"): _fields(_NAMESPACED_META, "type"),
    ("", "events"): _EVENT_FIELDS,
    ("events.k8s.io", "events"): _fields(
        _NAMESPACED_META,
        "regarding.kind",
        "regarding.namespace",
        "regarding.name",
        "regarding.uid",
        "regarding.apiVersion",
        "regarding.resourceVersion",
        "regarding.fieldPath",
        "reason",
        "reportingController",
        "type",
    ),
}
_CLUSTER_SCOPED = {
    ("", "nodes"),
    ("", "namespaces"),
    ("rbac.authorization.k8s.io", "clusterroles"),
    ("rbac.authorization.k8s.io", "clusterrolebindings"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
}


def selectable_fields(
    group: str,
    resource: str,
    *,
    namespaced: bool | None = None,
    extra: Iterable[str] = (),
) -> Mapping[str, FieldGetter]:
    """The fields ``resource`` can be selected on, each with its getter.

    Unknown resources (custom ones) get ``metadata.name`` (and ``metadata.namespace`` when
    namespaced) plus ``extra``: a CRD's ``selectableFields`` paths such as ``.spec.color``.
    """
    known = _TABLE.get((group, resource))
    if known is not None:
        return known
    if namespaced is None:
        namespaced = (group, resource) not in _CLUSTER_SCOPED
    table = dict(_NAMESPACED_META if namespaced else _CLUSTER_META)
    for path in extra:
        name = path.lstrip(".")
        table[name] = _path(*name.split("."))
    return table


def check_field_selector(
    selector: FieldSelector, fields: Mapping[str, FieldGetter]
) -> FieldSelector:
    """Reject a selector naming a field outside ``fields`` (upstream's exact message)."""
    for r in selector.requirements:
        if r.field not in fields:
            raise SelectorError(f"field label not supported: {r.field}")
    return selector


def field_set(obj: Mapping[str, Any], fields: Mapping[str, FieldGetter]) -> dict[str, str]:
    """The selectable field values of ``obj``, to match a :class:`FieldSelector` against."""
    return {name: get(obj) for name, get in fields.items()}
