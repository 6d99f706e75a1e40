"""How a process names a radio it should join: ``HOST:PORT`` on the command line or in env.

Kept free of bumble and bleak imports so the CLI can parse ``--radio`` without loading them.
"""

from __future__ import annotations

import re

_ADDRESS = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")

RADIO_ENV = "TENS_RADIO"
"""Environment variable holding ``HOST:PORT`` of a ``tens simulate --listen`` process."""


def parse_radio(spec: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (or ``[IPv6]:PORT``) into a host and a port number.

    Raises ValueError with a message a person can act on when the text is not of that form.
    """
    text = spec.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text:
        raise ValueError(f"radio address {spec!r} is not HOST:PORT (for example 127.0.0.1:9000)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"radio address {spec!r}: write an IPv6 host in brackets, [::1]:9000")
    if not host:
        raise ValueError(f"radio address {spec!r} has an empty host")
    if not port_text.isdigit():
        raise ValueError(f"radio address {spec!r}: port {port_text!r} is not a number")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"radio address {spec!r}: port {port} is outside 1..65535")
    return host, port


def normalize_address(text: str) -> str:
    """``c0:11:22:33:44:55`` as ``C0:11:22:33:44:55``; ValueError if it is no BD address."""
    address = text.strip().upper()
    if not _ADDRESS.match(address):
        raise ValueError(f"{text!r} is not a Bluetooth address like C0:11:22:33:44:55")
    return address
