"""``tens pair`` writes ``[device] address`` into the config file, touching nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from tens.config import STARTER_CONFIG, ConfigError, load
from tens.config_edit import set_device_address

ADDRESS = "C0:11:22:33:44:55"


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TENS_DEVICE__ADDRESS", raising=False)


def test_a_missing_file_gets_a_device_section(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    loaded = set_device_address(path, ADDRESS)
    assert loaded.config.device.address == ADDRESS
    assert path.read_text() == f'[device]\naddress = "{ADDRESS}"\n'


def test_the_starter_config_keeps_every_comment(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(STARTER_CONFIG)
    set_device_address(path, ADDRESS)
    text = path.read_text()
    assert text.startswith(STARTER_CONFIG)
    assert load(path).config.device.address == ADDRESS


def test_an_existing_address_is_replaced_in_its_section_only(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '# mine\n[device]\n# the old one\naddress = "AA:AA:AA:AA:AA:AA"  # hers\n'
        "connect_timeout_s = 12.0\n\n[session]\nminutes = 20.0\n"
    )
    set_device_address(path, ADDRESS)
    assert path.read_text() == (
        f'# mine\n[device]\n# the old one\naddress = "{ADDRESS}"\n'
        "connect_timeout_s = 12.0\n\n[session]\nminutes = 20.0\n"
    )
    loaded = load(path)
    assert loaded.config.device.connect_timeout_s == 12.0
    assert loaded.config.session.minutes == 20.0


def test_a_device_section_without_address_gets_one(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[device]\nconnect_timeout_s = 12.0\n[limits]\npeak_ma = 30.0\n")
    set_device_address(path, ADDRESS)
    loaded = load(path)
    assert loaded.config.device.address == ADDRESS
    assert loaded.config.limits.peak_ma == 30.0


def test_a_broken_file_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    broken = "[limits]\npeak_ma = 900.0\n"
    path.write_text(broken)
    with pytest.raises(ConfigError):
        set_device_address(path, ADDRESS)
    assert path.read_text() == broken
    assert not list(tmp_path.glob("*.tmp"))


def test_an_environment_override_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENS_DEVICE__ADDRESS", "AA:AA:AA:AA:AA:AA")
    path = tmp_path / "config.toml"
    with pytest.raises(ConfigError) as info:
        set_device_address(path, ADDRESS)
    assert info.value.problems[0].code == "overridden"
    assert not path.exists()
