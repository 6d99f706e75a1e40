from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tens.daemon.settings import MqttSettings
from tens.daemon.topics import Topics


def test_defaults_are_safe() -> None:
    s = MqttSettings()
    assert s.remote_start is False
    assert s.command_max_age_s == 5.0
    assert s.prefix == "tens" and s.discovery_prefix == "homeassistant"
    assert s.controller_id  # the host name, reduced to a topic level


@pytest.mark.parametrize(
    "fields",
    [
        {"prefix": "tens/#"},
        {"prefix": "/tens"},
        {"controller_id": "a/b"},
        {"controller_id": "pi+1"},
        {"password": "x"},  # no username
        {"username": "u", "password": "x", "password_file": "/tmp/p"},
        {"tls": {"cert_file": "/c.pem"}},  # cert without key
        {"port": 0},
        {"command_max_age_s": 0},
        {"hostname": "typo"},
    ],
)
def test_bad_settings_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        MqttSettings.model_validate(fields)


def test_password_is_never_shown(tmp_path: Path) -> None:
    s = MqttSettings.model_validate({"username": "pi", "password": "hunter2"})
    assert "hunter2" not in repr(s) and "hunter2" not in str(s)
    assert "hunter2" not in s.describe() and "hunter2" not in s.model_dump_json()
    assert s.resolve_password() == "hunter2"


def test_password_file(tmp_path: Path) -> None:
    f = tmp_path / "mqtt.secret"
    f.write_text("s3cret\n", encoding="utf-8")
    s = MqttSettings(username="pi", password_file=f)
    assert s.resolve_password() == "s3cret"
    missing = MqttSettings(username="pi", password_file=tmp_path / "nope")
    with pytest.raises(ValueError, match="nope"):
        missing.resolve_password()
    f.write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match="empty"):
        s.resolve_password()


def test_topics() -> None:
    t = Topics("clinic/room1", "pi-3", "homeassistant")
    assert t.availability == "clinic/room1/pi-3/availability"
    assert t.command("stop") == "clinic/room1/pi-3/cmd/stop"
    assert t.result("stop") == "clinic/room1/pi-3/cmd/stop/result"
    assert t.verb_of("clinic/room1/pi-3/cmd/stop") == "stop"
    assert t.verb_of("clinic/room1/pi-3/cmd/stop/result") is None
    assert t.verb_of("clinic/room1/pi-4/cmd/stop") is None
    assert t.discovery == "homeassistant/device/pi-3/config"


def test_numbers_from_the_environment_are_text(tmp_path: Path) -> None:
    from tens.config import load

    env = {
        "TENS_MQTT__USERNAME": "pi",
        "TENS_MQTT__PASSWORD": "123456",
        "TENS_MQTT__CONTROLLER_ID": "3",
        "TENS_MQTT__PORT": "8883",
    }
    loaded = load(tmp_path / "absent.toml", environ=env)
    s = MqttSettings.model_validate(loaded.config.mqtt)
    assert s.resolve_password() == "123456"
    assert s.controller_id == "3" and s.port == 8883
