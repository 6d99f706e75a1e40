"""`tens pair` / `tens devices` / `tens run` on the in-process simulated wearable.

Before `tens pair --simulator` the in-process wearable is open (the development mode); after,
it has link security and every face drives it only over the encrypted, bonded link.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from simulators.radio.keystore import stored_identity
from tens.cli import main
from tens.cli.target import SIM_PASSKEY
from tests.stated import PLACEMENT


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TENS_HOME", str(tmp_path))
    for name in ("TENS_RADIO", "TENS_CONFIG", "TENS_DEVICE__ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    assert main(["checklist", "--none-apply"]) == 0
    return tmp_path


def _json(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _run(minutes: str = "0.05") -> list[str]:
    return [
        "run", "--simulator", "--minutes", minutes, "--intensity", "3", "--json",
        "--placement", PLACEMENT,
    ]  # fmt: skip


def test_pair_then_run_over_the_encrypted_link(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["pair", "--simulator", "--passkey", str(SIM_PASSKEY), "--json"]) == 0
    [paired] = _json(capsys)
    assert paired["driver"] == "opentens" and paired["config"] is None
    sim_keys, bonds = home / "simulator" / "opentens-keys.json", home / "bonds.json"
    assert stored_identity(sim_keys) is not None
    assert str(stored_identity(sim_keys)) == paired["paired"]
    for path in (sim_keys, bonds):
        assert path.stat().st_mode & 0o077 == 0
    assert not (home / "config.toml").exists()  # --simulator chooses the wearable itself

    assert main(["devices", "--simulator", "--json"]) == 0
    [listing] = _json(capsys)
    assert listing["bonded"] == [paired["paired"]]

    assert main(_run()) == 0  # the secure wearable refuses plaintext: this ran encrypted
    events = _json(capsys)
    assert any(e.get("event") == "ended" and e.get("state") == "finished" for e in events)
    assert max(max(e["delivered"]) for e in events if e.get("event") == "delivered") > 0


def test_bond_lost_on_the_device_is_exit_12_with_the_way_out(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pair", "--simulator", "--passkey", str(SIM_PASSKEY)]) == 0
    sim_keys = home / "simulator" / "opentens-keys.json"
    db = json.loads(sim_keys.read_text())
    (namespace,) = db
    sim_keys.write_text(json.dumps({namespace: {}}))  # the device forgot every bond
    capsys.readouterr()
    assert main(_run()) == 12
    errors = [e["error"] for e in _json(capsys) if "error" in e]
    assert errors, "no error line"
    assert "tens pair" in errors[-1] and "forgot us" in errors[-1]


def test_a_wrong_passkey_is_exit_12_and_bonds_nothing(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["pair", "--simulator", "--passkey", "111111", "--json"]) == 12
    [error] = _json(capsys)
    assert "passkey" in error["error"]
    assert main(["devices", "--simulator", "--json"]) == 0
    assert _json(capsys)[0]["bonded"] == []


def test_forget_then_run_is_refused(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pair", "--simulator", "--passkey", str(SIM_PASSKEY)]) == 0
    capsys.readouterr()
    assert main(["pair", "--simulator", "--forget", "--json"]) == 0
    [forgot] = _json(capsys)
    assert forgot["was_bonded"] is True
    assert main(["devices", "--simulator", "--json"]) == 0
    assert _json(capsys)[0]["bonded"] == []
    assert main(_run()) == 12  # the wearable stays secure; no plaintext fall-back


def test_no_passkey_without_a_terminal_is_usage(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pair", "--simulator"]) == 2
    assert "--passkey" in capsys.readouterr().err
    assert main(["pair", "--simulator", "--passkey", "0"]) == 2


def test_before_pairing_the_in_process_wearable_is_open(home: Path) -> None:
    assert not (home / "simulator").exists()
    assert main(_run()) == 0
    assert not (home / "bonds.json").exists()
    assert os.listdir(home)  # the journal is there, no key file
