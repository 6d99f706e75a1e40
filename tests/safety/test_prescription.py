"""The prescription as a governor constraint (pure) and its file format: every field
narrows, refusals name the prescription, expiry stops it applying, nothing ever widens."""

from __future__ import annotations

import datetime as dt

import pytest

from tens.device import Capabilities, IntensityUnit, Waveform
from tens.events import Source
from tens.limits import Limits
from tens.prescription import PrescriptionError, parse
from tens.programs import all_programs
from tens.safety import StartRequest, Usage
from tens.safety.governor import check_start, check_target, effective_limits
from tens.safety.prescription import prescribed_limits
from tests.stated import pads, with_area

TODAY = dt.date(2026, 3, 10)
CAPS = Capabilities(
    channels=2,
    intensity_unit=IntensityUnit.MILLIAMP,
    intensity_max=80.0,
    intensity_step=0.1,
    frequency_hz=(1.0, 150.0),
    pulse_width_us=(50, 400),
    waveforms=frozenset(Waveform),
    keepalive_interval_s=None,
    watchdog_timeout_s=1.0,
)
PROGRAMS = all_programs()

RX = """
version = 1
prescriber = "J. Physio"
prescribed_on = 2026-03-01
valid_from = 2026-03-01
valid_until = 2026-05-24
total_weeks = 12
placements = ["lower back", "knee-left"]
session_minutes = 20
sessions_per_day = 2
rest_minutes = 60
notes = "Stop if the skin gets red."

[programs.conventional]
intensity = [10, 25]
unit = "mA"

[programs.burst]
intensity = [5, 60]
"""


def rules(text: str = RX):
    return parse(text, programs=PROGRAMS).rules()


def lim(**kw):
    return with_area(effective_limits(Limits(**kw), CAPS, "opentens"))


def apply(
    program="conventional", placement="lower-back", today=TODAY, done=0, rested=None, limits=None
):
    return prescribed_limits(
        limits or lim(),
        rules(),
        program=program,
        placement=placement,
        today=today,
        sessions_today=done,
        rested_s=rested,
    )


def start(limits, intensity=None, minutes=None, placement="lower-back", program="conventional"):
    return check_start(
        limits,
        CAPS,
        PROGRAMS,
        StartRequest(program=program, intensity=intensity, minutes=minutes, placement=placement),
        Usage(0.0, None, True, False),
        dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC),
        Source.CLI,
        default_program="conventional",
        default_minutes=15,
        default_channels=(0,),
        contraindicated={},
        electrodes=pads(),
    )[0]


def test_peak_narrowed_and_the_refusal_names_the_prescription() -> None:
    out = apply()
    assert out.refusal is None and out.limits.peak == 25
    d = start(out.limits, intensity=30)
    assert d.refused
    assert "peak intensity limit 25 mA" in d.reason
    assert (
        "your prescription from J. Physio (2026-03-01) for conventional on the lower back"
        in d.reason
    )
    assert start(out.limits, intensity=25).outcome == "allowed"
    # during the session too: the session carries these limits into check_target
    t = check_target(out.limits, PROGRAMS["conventional"], 20, 26, Source.TUI, manual=False)
    assert t.refused and "J. Physio" in t.reason


def test_never_wider_than_the_users_limits() -> None:
    out = apply(program="burst", limits=lim(peak_ma=30, session_minutes=15))
    assert out.limits.peak == 30  # prescription says 60: the user's 30 stays
    assert (
        out.limits.session_s == 15 * 60
        and "prescription" not in out.limits.origins["session length"]
    )
    assert out.limits.rest_s == 60 * 60  # prescription's rest is longer: it applies


def test_session_length_narrowed() -> None:
    out = apply()
    d = start(out.limits, minutes=25)
    assert d.refused and "above the limit 20 min (your prescription from J. Physio" in d.reason


@pytest.mark.parametrize(
    ("kw", "code", "words"),
    [
        ({"program": "acupuncture"}, "rx-program", "allows program(s) burst, conventional"),
        (
            {"placement": "shoulder-left"},
            "rx-placement",
            "allows electrodes on knee left, lower back only",
        ),
        ({"placement": None}, "rx-placement", "no placement was given"),
        ({"done": 2}, "rx-sessions-per-day", "allows 2 session(s) a day: 2 done today"),
        ({"rested": 30 * 60.0}, "rx-rest", "60 min rest between sessions: start again in 30 min"),
    ],
)
def test_every_field_refuses_naming_it(kw, code, words) -> None:
    out = apply(**kw)
    assert out.code == code
    assert out.refusal is not None and out.refusal.startswith("your prescription from J. Physio")
    assert words in out.refusal


def test_expired_stops_applying_and_says_so() -> None:
    base = lim()
    out = apply(today=dt.date(2026, 5, 25), limits=base)
    assert out.limits == base and out.refusal is None
    assert out.notice is not None and "expired on 2026-05-24 and no longer applies" in out.notice
    early = apply(today=dt.date(2026, 2, 28), limits=base)
    assert early.limits == base and "applies from 2026-03-01" in (early.notice or "")
    assert apply(today=dt.date(2026, 5, 24)).limits.peak == 25  # last day still applies


def test_unit_mismatch_refused() -> None:
    level = rules(RX.replace('unit = "mA"', 'unit = "level"'))
    out = prescribed_limits(
        lim(), level, program="conventional", placement="lower-back", today=TODAY, sessions_today=0
    )
    assert out.code == "rx-unit"


def test_no_prescription_changes_nothing() -> None:
    base = lim()
    assert (
        prescribed_limits(
            base, None, program="x", placement=None, today=TODAY, sessions_today=99
        ).limits
        is base
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("version = 1", "version = 2"), "version"),
        (('"lower back"', '"chest"'), "placements"),
        (('"lower back"', '"moon"'), "placements"),
        (("intensity = [10, 25]", "intensity = [10, 150]"), "programs.conventional"),
        (("intensity = [10, 25]", "intensity = [30, 25]"), "programs.conventional"),
        (("session_minutes = 20", "session_minutes = 500"), "session_minutes"),
        (("valid_until = 2026-05-24", "valid_until = 2026-02-01"), "(file)"),
        (("[programs.burst]", "[programs.zap]"), "programs.zap"),
        (('prescriber = "J. Physio"', 'prescriber = "J. Physio"\nextra = 1'), "extra"),
        (("sessions_per_day = 2", 'sessions_per_day = "2"'), "sessions_per_day"),
        (("rest_minutes = 60", 'rest_minutes = 60\nelectrode_size = "huge"'), "electrode_size"),
        (("rest_minutes = 60", 'rest_minutes = 60\nelectrode_size = "0.2cm2"'), "electrode_size"),
    ],
)
def test_malformed_and_contradictory_files_refused(change, field) -> None:
    with pytest.raises(PrescriptionError) as err:
        parse(RX.replace(*change), programs=PROGRAMS)
    assert field in [k for k, _ in err.value.problems] or any(
        k.startswith(field) for k, _ in err.value.problems
    ), err.value.problems


def test_not_toml_refused() -> None:
    with pytest.raises(PrescriptionError, match="not valid TOML"):
        parse("version = = 1")


def test_plain_words() -> None:
    words = parse(RX).plain_words()
    assert "Prescription from J. Physio, written 2026-03-01." in words
    assert "program conventional: intensity 10 to at most 25 mA" in words
    assert "electrodes on: lower back, knee, left" in words
    assert "at most 20 minutes a session, 2 session(s) a day" in words
    assert "you can always stop" in words and "Stop if the skin gets red." in words


def test_a_prescribed_electrode_size_is_read_and_shown() -> None:
    rx = parse(RX.replace("rest_minutes = 60", 'rest_minutes = 60\nelectrode_size = "5x9"'))
    assert rx.rules().electrode is not None and rx.rules().electrode.area_cm2 == 45.0
    assert "electrode size: 5x9 cm (45 cm²)" in rx.plain_words()
    assert parse(RX).rules().electrode is None
