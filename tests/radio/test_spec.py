"""``parse_radio``, ``RADIO_ENV`` and the package staying light to import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from simulators.radio import RADIO_ENV, parse_radio


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("127.0.0.1:9000", ("127.0.0.1", 9000)),
        ("localhost:1", ("localhost", 1)),
        (" sim.lan:65535 ", ("sim.lan", 65535)),
        ("[::1]:9000", ("::1", 9000)),
    ],
)
def test_parse_radio_accepts_host_and_port(spec: str, expected: tuple[str, int]) -> None:
    assert parse_radio(spec) == expected


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("9000", "HOST:PORT"),
        ("host:", "HOST:PORT"),
        (":9000", "HOST:PORT"),
        ("host:port", "not a number"),
        ("host:-1", "not a number"),
        ("host:0", "outside"),
        ("host:70000", "outside"),
        ("::1:9000", "brackets"),
        ("[]:9000", "empty host"),
    ],
)
def test_parse_radio_refuses_with_a_reason(spec: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_radio(spec)


def test_env_name() -> None:
    assert RADIO_ENV == "TENS_RADIO"


def test_importing_the_package_loads_neither_bumble_nor_bleak() -> None:
    code = (
        "import sys, simulators.radio as r; r.parse_radio('a:1'); "
        "heavy = [m for m in ('bumble', 'bleak') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == ""


def test_lazy_names_resolve() -> None:
    import simulators.radio as radio_pkg
    from simulators.radio.client import BumbleClient
    from simulators.radio.radio import VirtualRadio

    assert radio_pkg.VirtualRadio is VirtualRadio
    assert radio_pkg.BumbleClient is BumbleClient
    with pytest.raises(AttributeError):
        _ = radio_pkg.Nope


def test_normalize_address() -> None:
    from simulators.radio.spec import normalize_address

    assert normalize_address(" c0:11:22:33:44:5f ") == "C0:11:22:33:44:5F"
    for bad in ("C0:11:22:33:44", "C0:11:22:33:44:55:66", "C0-11-22-33-44-55", "zz", ""):
        with pytest.raises(ValueError, match="not a Bluetooth address"):
            normalize_address(bad)
