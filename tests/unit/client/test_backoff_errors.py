"""Backoff arithmetic, per-key failure counts, status errors and retry classification."""

from __future__ import annotations

import pytest

from k3os.client import (
    ApiStatusError,
    Backoff,
    ConflictError,
    GoneError,
    KeyedBackoff,
    NotFoundError,
    PermanentError,
    Retry,
    TemporaryError,
    retry_for,
)
from k3os.client.errors import status_error


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(0, 0.0), (-1, 0.0), (1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 5.0), (500, 5.0)],
)
def test_backoff_doubles_up_to_the_maximum(failures: int, expected: float) -> None:
    assert Backoff(initial=0.5, maximum=5.0).delay(failures) == expected


def test_backoff_jitter_adds_up_to_its_fraction() -> None:
    b = Backoff(initial=1.0, maximum=10.0, jitter=0.5)
    assert b.delay(1, rand=lambda: 0.0) == 1.0
    assert b.delay(1, rand=lambda: 1.0) == 1.5
    assert b.delay(2, rand=lambda: 0.5) == 2.5


@pytest.mark.parametrize(
    "kwargs",
    [{"initial": -1}, {"initial": 2, "maximum": 1}, {"factor": 0.5}, {"jitter": -0.1}],
)
def test_backoff_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff needs"):
        Backoff(**kwargs)


def test_keyed_backoff_counts_per_key_and_forgets() -> None:
    kb = KeyedBackoff(Backoff(initial=1.0, maximum=100.0))
    assert [kb.next_delay("a") for _ in range(3)] == [1.0, 2.0, 4.0]
    assert kb.next_delay("b") == 1.0
    assert kb.failures("a") == 3
    kb.forget("a")
    kb.forget("never-seen")
    assert kb.failures("a") == 0
    assert kb.next_delay("a") == 1.0


@pytest.mark.parametrize(
    ("code", "cls"),
    [(404, NotFoundError), (409, ConflictError), (410, GoneError), (500, ApiStatusError)],
)
def test_status_error_by_code(code: int, cls: type[ApiStatusError]) -> None:
    body = b'{"kind":"Status","code":%d,"reason":"R","message":"m"}' % code
    err = status_error(code, body)
    assert type(err) is cls
    assert (err.code, err.reason, err.message) == (code, "R", "m")
    assert str(err) == f"{code} R: m"


def test_status_error_from_a_watch_error_object_and_from_garbage() -> None:
    gone = status_error(500, {"code": 410, "reason": "Expired", "message": "too old"})
    assert isinstance(gone, GoneError)
    assert gone.status["reason"] == "Expired"
    text = status_error(502, b"<html>bad gateway</html>")
    assert (text.code, text.message) == (502, "<html>bad gateway</html>")
    empty = status_error(503, b"")
    assert (empty.code, empty.reason) == (503, "")
    listish = status_error(400, b"[1, 2]")
    assert listish.code == 400


@pytest.mark.parametrize(
    ("error", "decision"),
    [
        (PermanentError("bad spec"), Retry(False)),
        (TemporaryError("not yet", delay=3.0), Retry(True, 3.0)),
        (TemporaryError("not yet"), Retry(True, None)),
        (ConflictError(409, "Conflict", "stale", {}), Retry(True, None)),
        (RuntimeError("bug"), Retry(True, None)),
    ],
)
def test_retry_for(error: BaseException, decision: Retry) -> None:
    assert retry_for(error) == decision
