"""The config room's errors, and where in a source a value came from.

ConfigError                 anything wrong with the node config; one clear line
├── ConfigSyntaxError       a source is not valid YAML (file:line:column)
├── ConfigSchemaError       a value does not fit the schema (field path, what was expected)
└── DataSourceError         a data source answered, but with something unusable
"""

from __future__ import annotations

from dataclasses import dataclass

Path_ = tuple[str | int, ...]


def dotted(path: Path_) -> str:
    """`("k3os", "wifi", 0, "name")` -> `k3os.wifi[0].name`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


@dataclass(frozen=True)
class Origin:
    """Where a value was written: a source name, and a file position when there is one."""

    source: str
    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    detail: str | None = None  # e.g. the command-line token

    def __str__(self) -> str:
        if self.file is None:
            return f"{self.source} ({self.detail})" if self.detail else self.source
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


class ConfigError(Exception):
    """Base of every config error; `str()` is one line fit for a terminal."""


class ConfigSyntaxError(ConfigError):
    """A source is not valid YAML (or not a mapping at its top)."""

    def __init__(self, origin: Origin, problem: str) -> None:
        self.origin = origin
        self.problem = problem
        super().__init__(f"{origin}: {problem}")


class ConfigSchemaError(ConfigError):
    """A value does not fit the schema: names the field path and what was expected."""

    def __init__(self, origin: Origin | None, path: Path_, expected: str) -> None:
        self.origin = origin
        self.path = path
        self.expected = expected
        where = f"{origin}: " if origin is not None else ""
        super().__init__(f"{where}{dotted(path)}: {expected}")


class DataSourceError(ConfigError):
    """A data source was found but its content could not be used."""
