"""Broker authentication (password file) and TLS with a client certificate, on a real
Mosquitto; certificates are made here with the openssl command line tool."""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from tens.daemon.settings import MqttSettings
from tests.daemon.broker import MOSQUITTO, NO_BROKER_REASON, Broker, free_port, running_broker
from tests.daemon.harness import running_daemon, settings_for
from tests.daemon.mqtt_watch import watching

PASSWORD = "correct horse battery staple"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d: Path) -> None:
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=tens test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        cwd=d,
    )
    for name, ext in (
        ("server", "subjectAltName=IP:127.0.0.1"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            cwd=d,
        )
        (d / f"{name}.ext").write_text(ext + "\n", encoding="utf-8")
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            f"{name}.ext",
            "-out",
            f"{name}.pem",
            cwd=d,
        )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server and a client certificate, and a broker password file (made once)."""
    if MOSQUITTO is None:
        pytest.skip(NO_BROKER_REASON)
    if shutil.which("openssl") is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("openssl or mosquitto_passwd missing")
    d = tmp_path_factory.mktemp("pki")
    make_pki(d)
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(d / "passwd"), "pi", PASSWORD],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return d


@pytest.fixture
def secure_broker(tmp_path: Path, pki: Path) -> Iterator[Broker]:
    port = free_port()
    listener = (
        f"listener {port} 127.0.0.1\n"
        f"cafile {pki / 'ca.pem'}\n"
        f"certfile {pki / 'server.pem'}\n"
        f"keyfile {pki / 'server.key'}\n"
        "require_certificate true\n"
        "allow_anonymous false\n"
        f"password_file {pki / 'passwd'}\n"
    )
    with running_broker(tmp_path, listener_conf=listener, port=port) as b:
        yield b


def client_tls(d: Path) -> dict[str, Any]:
    ctx = ssl.create_default_context(cafile=str(d / "ca.pem"))
    ctx.load_cert_chain(str(d / "client.pem"), str(d / "client.key"))
    return {"tls_context": ctx, "username": "pi", "password": PASSWORD}


def tls_settings(d: Path, broker: Broker, password_file: Path) -> MqttSettings:
    return settings_for(
        broker.port,
        username="pi",
        password_file=password_file,
        tls={"ca_file": d / "ca.pem", "cert_file": d / "client.pem", "key_file": d / "client.key"},
    )


async def test_tls_client_cert_and_password_file(
    secure_broker: Broker, pki: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = tmp_path / "mqtt.secret"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    caplog.set_level(logging.DEBUG)
    async with running_daemon(tls_settings(pki, secure_broker, secret)) as run:
        t = run.topics
        async with watching(secure_broker.port, t.state, **client_tls(pki)) as w:
            state = (await w.wait_for(t.state)).json()
            assert state["controller"] == "bedside"
    assert PASSWORD not in caplog.text


async def test_wrong_password_never_connects_and_is_never_logged(
    secure_broker: Broker, pki: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = tmp_path / "wrong.secret"
    secret.write_text("not-the-password\n", encoding="utf-8")
    caplog.set_level(logging.DEBUG)
    settings = tls_settings(pki, secure_broker, secret)
    with pytest.raises(TimeoutError):
        async with running_daemon(settings, connect_within=1.5):
            pass  # pragma: no cover - the daemon must not connect
    assert "not-the-password" not in caplog.text
    # The broker refused it, and still serves a correct client.
    async with aiomqtt.Client("127.0.0.1", secure_broker.port, **client_tls(pki)):
        await asyncio.sleep(0)
