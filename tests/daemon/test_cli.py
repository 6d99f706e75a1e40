"""`tens daemon` refuses a bad [mqtt] section before connecting to anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from tens.cli import main


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ("[mqtt]\nport = 0\n", "mqtt.port"),
        ('[mqtt]\nremote_start = "maybe"\n', "mqtt.remote_start"),
        ('[mqtt]\nhots = "typo"\n', "mqtt.hots"),
        ('[mqtt]\nusername = "pi"\npassword_file = "/nonexistent/secret"\n', "password_file"),
    ],
)
def test_bad_mqtt_config_is_refused_with_the_key_named(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    toml: str,
    words: str,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(toml, encoding="utf-8")
    monkeypatch.setenv("TENS_HOME", str(tmp_path))
    assert main(["daemon", "--config", str(config)]) == 3
    err = capsys.readouterr().err
    assert words in err


def test_secret_is_not_echoed_in_the_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[mqtt]\npassword = "hunter2"\n', encoding="utf-8")  # no username
    monkeypatch.setenv("TENS_HOME", str(tmp_path))
    assert main(["daemon", "--config", str(config)]) == 3
    err = capsys.readouterr().err
    assert "username" in err and "hunter2" not in err


def test_an_unknown_tens_log_level_is_a_clear_refusal_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Pi guide tells people to set TENS_LOG_LEVEL; a typo in it must not crash the
    daemon (argparse never checks an environment default against its choices)."""
    monkeypatch.setenv("TENS_HOME", str(tmp_path))
    monkeypatch.setenv("TENS_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("TENS_LOG_LEVEL", "verbose")
    assert main(["daemon", "--no-mqtt", "--simulator"]) == 3
    err = capsys.readouterr().err
    assert "TENS_LOG_LEVEL" in err and "verbose" in err and "debug, info, warning, error" in err
