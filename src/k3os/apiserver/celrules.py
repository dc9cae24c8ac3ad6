"""CEL `x-kubernetes-validations` rules of custom resource schemas.

Rules are compiled once per CRD version (a rule that does not compile rejects the CRD)
and evaluated against the value at the schema node as `self` and, for transition rules
(those naming `oldSelf`), the previous value as `oldSelf`. Evaluation uses the
`common-expression-language` library; a few Kubernetes string helpers (`lowerAscii`,
`upperAscii`, `trim`, `join`, `split`, `replace`, `indexOf`, `lastIndexOf`) are added as
functions. The library is imported lazily: only CRDs with rules pay for it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from k3os.apiserver.errors import FieldError, FieldErrorType, json_type

__all__ = ["CompiledRule", "RuleError", "compile_rule", "evaluate_rule"]

_REASONS: dict[str, FieldErrorType] = {
    "FieldValueInvalid": "FieldValueInvalid",
    "FieldValueForbidden": "FieldValueForbidden",
    "FieldValueRequired": "FieldValueRequired",
    "FieldValueDuplicate": "FieldValueDuplicate",
}


# Variables a macro binds (`self.all(x, ...)`): not references to undeclared names.
_MACRO_VARIABLE = re.compile(r"\b(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")


class RuleError(ValueError):
    """A rule (or its messageExpression) that does not compile; the text says why."""


@dataclass(frozen=True)
class CompiledRule:
    rule: str
    program: Any
    message: str = ""
    message_program: Any = None
    field_path: str = ""
    reason: FieldErrorType = "FieldValueInvalid"
    transition: bool = False  # names oldSelf: checked only when an old value exists


def _extensions() -> dict[str, Callable[..., Any]]:
    def join(items: list[str], sep: str = "") -> str:
        return sep.join(items)

    def split(text: str, sep: str, limit: int = -1) -> list[str]:
        return text.split(sep, limit if limit >= 0 else -1)

    return {
        "lowerAscii": lambda s: s.lower(),
        "upperAscii": lambda s: s.upper(),
        "trim": lambda s: s.strip(),
        "join": join,
        "split": split,
        "replace": lambda s, old, new: s.replace(old, new),
        "indexOf": lambda s, sub: s.find(sub),
        "lastIndexOf": lambda s, sub: s.rfind(sub),
    }


@functools.cache
def _cel() -> Any:
    import cel

    return cel


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _variables(program: Any) -> list[str]:
    found = program.variables
    return list(found() if callable(found) else found)


def compile_rule(spec: Mapping[str, Any]) -> CompiledRule:
    """Compile one `x-kubernetes-validations` entry; RuleError when it cannot be used."""
    rule = spec.get("rule")
    if not isinstance(rule, str) or not rule.strip():
        raise RuleError("rule: Required value")
    cel = _cel()
    try:
        program = cel.compile(rule)
    except (ValueError, RuntimeError) as e:
        raise RuleError(f"compilation failed: {_first_line(e)}") from e
    bound = {m.group(1) for m in _MACRO_VARIABLE.finditer(rule)}
    unknown = set(_variables(program)) - {"self", "oldSelf"} - bound
    if unknown:
        raise RuleError(f"compilation failed: undeclared reference to {sorted(unknown)[0]!r}")
    message_program = None
    expr = spec.get("messageExpression")
    if isinstance(expr, str) and expr.strip():
        try:
            message_program = cel.compile(expr)
        except (ValueError, RuntimeError) as e:
            raise RuleError(f"messageExpression compilation failed: {_first_line(e)}") from e
    reason = _REASONS.get(str(spec.get("reason") or "FieldValueInvalid"))
    if reason is None:
        raise RuleError(
            "reason: Unsupported value: supported values: " + ", ".join(f'"{r}"' for r in _REASONS)
        )
    return CompiledRule(
        rule=rule,
        program=program,
        message=str(spec.get("message") or ""),
        message_program=message_program,
        field_path=str(spec.get("fieldPath") or ""),
        reason=reason,
        transition="oldSelf" in _variables(program),
    )


def _context(value: Any, old: Any, has_old: bool) -> Any:
    ctx = _cel().Context()
    for name, fn in _extensions().items():
        ctx.add_function(name, fn)
    ctx.add_variable("self", value)
    if has_old:
        ctx.add_variable("oldSelf", old)
    return ctx


def _join_path(path: str, field_path: str) -> str:
    if not field_path:
        return path
    if field_path.startswith("."):
        field_path = field_path[1:]
    return f"{path}.{field_path}" if path else field_path


def evaluate_rule(
    rule: CompiledRule, value: Any, path: str, *, old: Any = None, has_old: bool = False
) -> FieldError | None:
    """The field error `rule` reports for `value` at `path`, or None when it holds."""
    if rule.transition and not has_old:
        return None
    ctx = _context(value, old, has_old)
    where = _join_path(path, rule.field_path)
    shown = json_type(value)
    try:
        result = rule.program.execute(ctx)
    except (ValueError, RuntimeError, KeyError, TypeError) as e:
        detail = str(e).split(". ", 1)[0]
        return FieldError.invalid(where, shown, f"{detail} evaluating rule: {rule.rule}")
    if result is True:
        return None
    if result is not False:
        return FieldError.invalid(where, shown, f"rule did not evaluate to a boolean: {rule.rule}")
    message = rule.message or f"failed rule: {rule.rule}"
    if rule.message_program is not None:
        try:
            produced = rule.message_program.execute(ctx)
        except (ValueError, RuntimeError, KeyError, TypeError):
            produced = None
        if isinstance(produced, str) and produced.strip():
            message = produced
    if rule.reason == "FieldValueInvalid":
        return FieldError.invalid(where, shown, message)
    if rule.reason == "FieldValueDuplicate":
        return FieldError("FieldValueDuplicate", where, shown, message)
    return FieldError(rule.reason, where, detail=message)
