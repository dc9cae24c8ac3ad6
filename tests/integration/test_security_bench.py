"""`bench/security.py --quick` runs and prints only well-formed figures with real baselines,
the TLS handshakes among them (each way measured in the same run)."""

from __future__ import annotations

import pytest

from tests.integration._bench import quick_rows

pytestmark = pytest.mark.integration


def test_security_bench_quick() -> None:
    rows = quick_rows("security")
    cases = {row["case"]: row for row in rows}
    assert {"authn/client-cert", "tls/handshake-chain-built", "tls/handshake-leaf-only"} <= set(
        cases
    )
    assert cases["tls/handshake-leaf-only"]["baseline"] == "tls/handshake-chain-built"
    assert {row["baseline"] for row in rows} - {None} <= set(cases)
    assert all(row["bench"] == "security" and row["value"] > 0 for row in rows)
