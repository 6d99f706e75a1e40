"""MQTT settings of the headless daemon (the ``mqtt`` section of the tens config).

Light on purpose: pydantic only, so ``tens.config`` can import it without pulling in aiomqtt.
Secrets are :class:`pydantic.SecretStr` (never shown by ``repr`` or a log line); a password
may come from a file readable only by the service user (``password_file``).
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

_TOPIC_PART = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$")
_ID = re.compile(r"^[A-Za-z0-9_\-]+$")


def default_controller_id() -> str:
    """This machine's host name, reduced to what an MQTT topic level and a HA id accept."""
    name = re.sub(r"[^A-Za-z0-9_\-]", "-", socket.gethostname().split(".")[0]).strip("-")
    return name or "tens"


class MqttTls(BaseModel):
    """TLS to the broker: the CA that signed the broker's certificate, and a client cert."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ca_file: Path | None = None
    """PEM file of the CA to trust; None uses the system's CA store."""
    cert_file: Path | None = None
    """Client certificate (PEM), for brokers that authenticate clients by certificate."""
    key_file: Path | None = None
    """Private key of the client certificate (PEM)."""

    @model_validator(mode="after")
    def _key_with_cert(self) -> MqttTls:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("tls: cert_file and key_file go together")
        return self


class MqttSettings(BaseModel):
    """Where the daemon's broker is, how to log in, and what it may be asked to do."""

    # Numbers become text where text is expected: TENS_MQTT__PASSWORD=123456 or
    # TENS_MQTT__CONTROLLER_ID=3 arrive as numbers after the environment's TOML parsing.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    enabled: bool = True
    host: str = "localhost"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    """A file holding the password (first line); keeps the secret out of the config file."""
    tls: MqttTls | None = None
    """TLS settings; None connects in plain TCP (use TLS whenever the broker is not local)."""
    prefix: str = "tens"
    """First topic level(s): topics are ``<prefix>/<controller_id>/...``."""
    controller_id: str = Field(default_factory=default_controller_id)
    """This daemon's id on the bus; unique per broker (default: the host name)."""
    discovery: bool = True
    """Publish Home Assistant MQTT device discovery."""
    discovery_prefix: str = "homeassistant"
    support_url: str | None = None
    """Shown by Home Assistant as the support link of the integration (discovery's origin);
    default: the package's Documentation or Homepage URL, when it names one."""
    remote_start: bool = False
    """Obey ``cmd/start`` from the network. Off by default: stop is always obeyed."""
    stop_link: bool = True
    """A second connection (client id ``tens-<controller_id>-stop``) subscribed to ``cmd/stop``
    only, so a stop never waits behind a flood of other messages on the main connection."""
    command_max_age_s: float = Field(default=5.0, gt=0.0, le=60.0)
    """Commands whose timestamp is older (or further in the future) than this are refused."""
    state_refresh_s: float = Field(default=5.0, ge=0.5, le=300.0)
    """During a session, the state is republished at least this often (time left moves)."""
    keepalive_s: int = Field(default=30, ge=5, le=600)
    timeout_s: float = Field(default=10.0, gt=0.0, le=120.0)
    """How long to wait for the broker to answer a connect, subscribe or QoS 1 publish."""
    reconnect_min_s: float = Field(default=1.0, gt=0.0, le=60.0)
    reconnect_max_s: float = Field(default=30.0, gt=0.0, le=600.0)

    @field_validator("prefix", "discovery_prefix")
    @classmethod
    def _topic_levels(cls, value: str) -> str:
        if not _TOPIC_PART.match(value):
            raise ValueError(
                "must be topic levels of letters, digits, '_' or '-' separated by '/' "
                "(no wildcards, no leading or trailing '/')"
            )
        return value

    @field_validator("support_url")
    @classmethod
    def _web_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
            raise ValueError("must be an http:// or https:// address")
        return value

    @field_validator("controller_id")
    @classmethod
    def _one_level(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("must be letters, digits, '_' or '-' only")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MqttSettings:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give either password or password_file, not both")
        if (self.password is not None or self.password_file is not None) and not self.username:
            raise ValueError("a password needs a username")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be at least reconnect_min_s")
        return self

    def resolve_password(self) -> str | None:
        """The password to log in with, read from ``password_file`` when one is set.

        Raises ValueError naming the file (never its content) when it cannot be read.
        """
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is None:
            return None
        try:
            text = self.password_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(
                f"cannot read mqtt password_file {self.password_file}: {exc.strerror}"
            ) from None
        lines = text.splitlines()
        secret = lines[0].strip() if lines else ""
        if not secret:
            raise ValueError(f"mqtt password_file {self.password_file} is empty")
        return secret

    def describe(self) -> str:
        """Where this connects to, for logs; never includes a secret."""
        scheme = "mqtts" if self.tls is not None else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port} as {self.prefix}/{self.controller_id}"
