"""An accepted prescription shapes sessions on the simulated wearable: judged by the
simulator's delivered-output record and the audit, not by what the controller believes."""

from __future__ import annotations

import pytest

from tens.config import SessionDefaults, TensConfig
from tens.events import Source
from tens.safety import StartRequest
from tens.store.prescriptions import remove_active, save_accepted
from tens.store.sessions import list_audit

pytestmark = [pytest.mark.looptime]

RX = """
version = 1
prescriber = "J. Physio"
prescribed_on = 2026-01-01
valid_from = 2026-01-01
valid_until = {until}
placements = ["lower-back"]
session_minutes = 1
sessions_per_day = 3
rest_minutes = 0

[programs.conventional]
intensity = [5, 12]
"""


async def _changed(rig, change, *args) -> None:  # type: ignore[no-untyped-def]
    """A prescription change, then the checklist answered again (a change expires it)."""
    from tens.checklist import none_apply
    from tens.store.sessions import record_checklist

    await rig.db.run(change, *args)
    await rig.db.run(record_checklist, none_apply(), False)


def _config() -> TensConfig:
    return TensConfig(session=SessionDefaults(placement="lower-back"))


async def test_prescription_narrows_what_reaches_the_skin(rig_factory) -> None:
    rig = await rig_factory(_config())
    await _changed(rig, save_accepted, RX.format(until="2099-12-31"))
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(intensity=20, minutes=1), Source.MQTT)
    assert d.refused and "peak intensity limit 12 mA (your prescription from J. Physio" in d.reason
    d = await rig.ctrl.start(StartRequest(intensity=12, minutes=2), Source.CLI)
    assert d.refused and "above the limit 1 min (your prescription" in d.reason
    d = await rig.ctrl.start(StartRequest(program="burst", minutes=1), Source.TUI)
    assert d.refused and "allows program(s) conventional, not burst" in d.reason
    assert rig.delivered_max() == 0
    d = await rig.ctrl.start(StartRequest(intensity=10, minutes=1), Source.CLI)
    assert d.outcome == "allowed", d.reason
    up = await rig.ctrl.set_intensity(15, Source.TUI)
    assert up.refused and "your prescription" in up.reason
    await rig.ctrl.wait_ended()
    assert 9.8 <= rig.delivered_max() <= 10.11
    await rig.ctrl.audit.flush()
    audit = await rig.db.run(list_audit)
    refusals = [a for a in audit if a.outcome == "refused"]
    assert len(refusals) == 4 and all("prescription" in (a.reason or "") for a in refusals)


async def test_expired_prescription_does_not_apply_and_says_so(rig_factory) -> None:
    rig = await rig_factory(_config())
    old = RX.format(until="2020-01-31").replace("2026-01-01", "2019-06-01")
    await _changed(rig, save_accepted, old)
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(intensity=20, minutes=1), Source.CLI)
    assert d.outcome == "allowed", d.reason  # the user's own 40 mA limit applies
    notices = [getattr(e, "text", "") for e in rig.events]
    assert any("expired on 2020-01-31 and no longer applies" in t for t in notices)
    await rig.ctrl.stop(Source.CLI)


async def test_removed_prescription_no_longer_applies(rig_factory) -> None:
    rig = await rig_factory(_config())
    await _changed(rig, save_accepted, RX.format(until="2099-12-31"))
    await _changed(rig, remove_active)
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(intensity=20, minutes=1), Source.CLI)
    assert d.outcome == "allowed", d.reason
    await rig.ctrl.stop(Source.CLI)


async def test_unreadable_stored_prescription_refuses(rig_factory) -> None:
    rig = await rig_factory(_config())
    await _changed(rig, save_accepted, "version = 9")
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(intensity=5, minutes=1), Source.CLI)
    assert d.refused and "stored prescription cannot be read" in d.reason
    assert rig.delivered_max() == 0


async def test_signed_prescription_is_verified_again_at_every_start(rig_factory) -> None:
    """Trusted: applies. The row altered in the database, or the key withdrawn later: every
    start refused (rx-signature-*), nothing delivered; trusted again: applies again."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from tens.prescription_signature import raw_public, sign
    from tens.store.prescription_keys import trust_key, untrust_key

    key = Ed25519PrivateKey.generate()
    signed = sign(RX.format(until="2099-12-31"), key)
    rig = await rig_factory(_config())
    kid = await rig.db.run(trust_key, raw_public(key), "J. Physio")
    await _changed(rig, save_accepted, signed)
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(intensity=10, minutes=1), Source.CLI)
    assert d.outcome == "allowed", d.reason
    await rig.ctrl.stop(Source.CLI)
    await rig.db.run(untrust_key, kid)
    d = await rig.ctrl.start(StartRequest(intensity=10, minutes=1), Source.CLI)
    assert d.refused and d.code == "rx-signature-revoked"
    assert "your prescription from J. Physio" in d.reason and "no longer trust" in d.reason
    await rig.db.run(trust_key, raw_public(key), "J. Physio")
    await _changed(rig, save_accepted, signed.replace("[5, 12]", "[5, 40]"))
    d = await rig.ctrl.start(StartRequest(intensity=30, minutes=1), Source.CLI)
    assert d.refused and d.code == "rx-signature-invalid"
    assert rig.delivered_max() <= 10.11


async def test_require_signature_stops_an_unsigned_stored_prescription(rig_factory) -> None:
    from tens.config import PrescriptionSettings

    cfg = _config().model_copy(
        update={"prescription": PrescriptionSettings(require_signature=True)}
    )
    rig = await rig_factory(cfg)
    await _changed(rig, save_accepted, RX.format(until="2099-12-31"))
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(intensity=5, minutes=1), Source.SCHEDULER)
    assert d.refused and d.code == "rx-signature-required"
    assert "require_signature" in d.reason
    assert rig.delivered_max() == 0


async def test_the_prescribed_pad_size_is_used_where_none_is_stated(rig_factory) -> None:
    """Issue 13 item 1: a prescription may state the pads; a channel the person has not
    stated then uses them, and a size the person states wins (it is what is on now)."""
    from tens.electrodes import ElectrodeSize
    from tens.limits import Limits
    from tens.store.electrodes import state_electrode

    rested = _config().model_copy(update={"limits": Limits(rest_minutes=0)})
    rig = await rig_factory(rested, stated=False)
    tiny = RX.format(until="2099-12-31").replace(
        "rest_minutes = 0", 'rest_minutes = 0\nelectrode_size = "1.5cm2"'
    )
    await _changed(rig, save_accepted, tiny)
    await rig.ctrl.connect()
    # 1.5 cm²: conventional allows 2 x 1.5 / sqrt(0.03) = 17.3 mA; the prescription's 12 binds
    d = await rig.ctrl.start(StartRequest(intensity=10, minutes=1), Source.CLI)
    assert d.outcome == "allowed", d.reason
    await rig.ctrl.stop(Source.CLI)
    # without the prescription's size, the same start is refused for the unknown pad
    await _changed(rig, remove_active)
    d = await rig.ctrl.start(StartRequest(intensity=10, minutes=1), Source.CLI)
    assert d.code == "electrode_size_unknown"
    await _changed(rig, save_accepted, tiny.replace("[5, 12]", "[5, 40]"))
    d = await rig.ctrl.check_start(StartRequest(intensity=20, minutes=1), Source.CLI)
    assert d.refused and "on 1.5 cm² electrodes" in d.reason
    await rig.db.run(state_electrode, 0, ElectrodeSize("5x5 cm", 25.0))
    d = await rig.ctrl.check_start(StartRequest(intensity=20, minutes=1), Source.CLI)
    assert d.outcome == "allowed", d.reason
    assert rig.delivered_max() <= 10.11
