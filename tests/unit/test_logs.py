from __future__ import annotations

import io
import json
import logging

import pytest

from k3os.cli.logs import resolve_level, setup_logging


@pytest.fixture(autouse=True)
def _restore_root_logger() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_text_lines_carry_extras() -> None:
    buf = io.StringIO()
    setup_logging(logging.INFO, "text", buf)
    logging.getLogger("k3os.test").info("hello", extra={"node": "n1", "why": "two words"})
    line = buf.getvalue().strip()
    assert "INFO" in line and "k3os.test: hello" in line
    assert "node=n1" in line and 'why="two words"' in line


def test_json_lines_parse() -> None:
    buf = io.StringIO()
    setup_logging(logging.DEBUG, "json", buf)
    log = logging.getLogger("k3os.test")
    log.debug("d", extra={"n": 3})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    first, second = (json.loads(x) for x in buf.getvalue().splitlines() if x.startswith("{"))
    assert first["level"] == "debug" and first["n"] == 3 and first["msg"] == "d"
    assert second["level"] == "error" and "boom" in second["exc"]


def test_level_below_threshold_is_dropped() -> None:
    buf = io.StringIO()
    setup_logging(logging.WARNING, "text", buf)
    logging.getLogger("k3os.test").info("quiet")
    assert buf.getvalue() == ""


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        (None, {}, logging.INFO),
        ("debug", {"K3OS_LOG_LEVEL": "error"}, logging.DEBUG),
        (None, {"K3OS_LOG_LEVEL": "WARNING"}, logging.WARNING),
    ],
)
def test_level_resolution(flag: str | None, env: dict[str, str], expected: int) -> None:
    assert resolve_level(flag, env) == expected


def test_bad_level_names_its_source() -> None:
    with pytest.raises(ValueError, match="K3OS_LOG_LEVEL"):
        resolve_level(None, {"K3OS_LOG_LEVEL": "loud"})
