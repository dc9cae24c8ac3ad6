"""One logging set-up for every command: readable lines on a terminal, JSON lines on request.

Level comes from `--log-level`, else `K3OS_LOG_LEVEL`, else INFO. Extra fields passed with
`logger.info("msg", extra={...})` appear as `key=value` in text and as keys in JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from typing import Any, Final, Literal, TextIO

LogFormat = Literal["text", "json"]
LEVELS: Final = ("debug", "info", "warning", "error", "critical")
ENV_LEVEL: Final = "K3OS_LOG_LEVEL"

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}


def _timestamp(record: logging.LogRecord) -> str:
    moment = dt.datetime.fromtimestamp(record.created, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """`TIME LEVEL logger: message key=value ...`, one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [
            _timestamp(record),
            f"{record.levelname:<7}",
            f"{record.name}:",
            record.getMessage(),
        ]
        parts.extend(f"{k}={_text_value(v)}" for k, v in _extras(record).items())
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _text_value(value: object) -> str:
    text = str(value)
    return json.dumps(text) if (" " in text or not text) else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, msg, then the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_extras(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def resolve_level(flag: str | None, env: dict[str, str] | None = None) -> int:
    """The level from the flag, else the environment, else INFO; a bad name is an error."""
    environ = os.environ if env is None else env
    name = (flag or environ.get(ENV_LEVEL) or "info").strip().lower()
    if name not in LEVELS:
        source = "--log-level" if flag else ENV_LEVEL
        raise ValueError(
            f"{source}: unknown log level {name!r}; expected one of {', '.join(LEVELS)}"
        )
    return logging.getLevelNamesMapping()[name.upper()]


_current: tuple[int, LogFormat] = (logging.INFO, "text")


def logging_options() -> list[str]:
    """The `k3os` options that set up logging as it is set up now (for a child process)."""
    level, fmt = _current
    return ["--log-level", logging.getLevelName(level).lower(), "--log-format", fmt]


def setup_logging(level: int, fmt: LogFormat = "text", stream: TextIO | None = None) -> None:
    """Install one handler on the root logger; calling it again replaces the first."""
    global _current
    _current = (level, fmt)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries that are chatty at INFO stay at WARNING unless we are debugging.
    for noisy in ("uvicorn.access", "grpc", "asyncio"):
        logging.getLogger(noisy).setLevel(level if level <= logging.DEBUG else logging.WARNING)
