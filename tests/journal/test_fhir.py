"""The FHIR export: every resource validated by fhir.resources (R4B models), the bundle
round-tripped, and the codes checked against the journal they came from."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tens.journal.export import collect
from tens.journal.fhir import PEG_ITEMS, SNOMED_SITES, body_site, build_bundle, write_fhir
from tens.journal.regions import REGIONS
from tens.store import open_db
from tests.journal.fixtures import NOW, fill

fhir_bundle = pytest.importorskip("fhir.resources.R4B.bundle")


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = open_db(tmp_path / "x.db")
    fill(c)
    yield c
    c.close()


def _by_type(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == kind]


def _codes(resource: dict[str, Any]) -> set[str]:
    return {c["code"] for c in resource.get("code", {}).get("coding", [])}


def test_bundle_validates_and_round_trips(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = write_fhir(collect(conn), tmp_path / "bundle.json", now=NOW)
    text = path.read_text(encoding="utf-8")
    model = fhir_bundle.Bundle.model_validate_json(text)
    assert model.type == "collection"
    # every resource is validated as its own type by the library
    assert {type(e.resource).__name__ for e in model.entry} == {
        "Patient",
        "Observation",
        "Procedure",
    }
    back = json.loads(model.model_dump_json(exclude_none=True))
    doc = json.loads(text)
    # round trip: the library gives back what we wrote (times as it normalises them)
    assert [e["fullUrl"] for e in back["entry"]] == [e["fullUrl"] for e in doc["entry"]]
    assert len(back["entry"]) == len(doc["entry"])
    for ours, theirs in zip(doc["entry"], back["entry"], strict=True):
        assert ours["resource"]["resourceType"] == theirs["resource"]["resourceType"]
        for key in ("valueInteger", "status", "code", "bodySite", "hasMember", "partOf"):
            assert ours["resource"].get(key) == theirs["resource"].get(key)


def test_pain_scores_are_loinc_with_snomed_sites(conn: sqlite3.Connection) -> None:
    doc = build_bundle(collect(conn), now=NOW)
    pain = [o for o in _by_type(doc, "Observation") if _codes(o) == {"72514-3"}]
    # 21 daily scores + 4 before/after; the deleted 10 is left out
    assert len(pain) == 25
    assert sorted(o["valueInteger"] for o in pain).count(10) == 0
    knee = [o for o in pain if o.get("bodySite", {}).get("text") == "knee, left"]
    assert len(knee) == 7
    assert knee[0]["bodySite"]["coding"] == [
        {"system": "http://snomed.info/sct", "code": "72696002", "display": "Knee"}
    ]
    back = [o for o in pain if o.get("bodySite", {}).get("text") == "lower back"]
    assert len(back) == 7 and "coding" not in back[0]["bodySite"]  # no exact code: none
    flagged = [o for o in pain if any("swelling" in n["text"] for n in o.get("note", []))]
    assert len(flagged) == 1
    procs = {e["fullUrl"] for e in doc["entry"] if e["resource"]["resourceType"] == "Procedure"}
    linked = [o for o in pain if "partOf" in o]
    assert len(linked) == 4 and {o["partOf"][0]["reference"] for o in linked} <= procs


def test_peg_panel_has_its_items_and_mean(conn: sqlite3.Connection) -> None:
    doc = build_bundle(collect(conn), now=NOW)
    obs = {e["fullUrl"]: e["resource"] for e in doc["entry"]}
    panels = [o for o in obs.values() if _codes(o) == {"91148-7"}]
    assert len(panels) == 1
    members = [obs[m["reference"]] for m in panels[0]["hasMember"]]
    values = {next(iter(_codes(m))): m.get("valueInteger", m.get("valueQuantity")) for m in members}
    assert values["75893-8"] == 6 and values["91145-3"] == 5 and values["91146-1"] == 4
    assert values["91147-9"]["value"] == 5.0
    assert [c for c, _, _ in PEG_ITEMS] == ["75893-8", "91145-3", "91146-1"]


def test_sessions_are_procedures(conn: sqlite3.Connection) -> None:
    doc = build_bundle(collect(conn), now=NOW)
    procs = _by_type(doc, "Procedure")
    assert [p["status"] for p in procs] == ["completed", "stopped", "not-done"]
    summaries = [
        o for o in _by_type(doc, "Observation") if o["code"].get("text", "").startswith("TENS")
    ]
    assert len(summaries) == 3
    minutes = [
        c for c in summaries[0]["component"] if c["code"]["text"] == "minutes of stimulation"
    ]
    assert minutes[0]["valueQuantity"]["value"] == 30.0


def test_patient_is_a_placeholder_unless_named(conn: sqlite3.Connection) -> None:
    doc = build_bundle(collect(conn), now=NOW)
    (patient,) = _by_type(doc, "Patient")
    assert set(patient) == {"resourceType", "id"}
    named = build_bundle(collect(conn), now=NOW, patient_name="A. Person")
    assert _by_type(named, "Patient")[0]["name"] == [{"text": "A. Person"}]
    fhir_bundle.Bundle.model_validate(named)


def test_same_journal_same_bundle(conn: sqlite3.Connection) -> None:
    assert build_bundle(collect(conn), now=NOW) == build_bundle(collect(conn), now=NOW)


def test_every_region_gives_a_valid_site() -> None:
    from fhir.resources.R4B.codeableconcept import CodeableConcept

    for key in REGIONS:
        site = body_site(key)
        assert site is not None
        CodeableConcept.model_validate(site)
        assert ("coding" in site) is (REGIONS[key].area in SNOMED_SITES)
    assert set(SNOMED_SITES) <= {r.area for r in REGIONS.values()}


def test_sessions_with_devices_and_intensity(tmp_path: Path) -> None:
    from tens.store.sessions import create_session
    from tests.journal.fixtures import at

    c = open_db(tmp_path / "y.db")
    create_session(
        c,
        started_at=at(NOW.date(), 8),
        ended_at=at(NOW.date(), 8, 20),
        device="AA:BB:CC:DD:EE:FF",
        program="burst",
        placement="shoulder-right",
        target_intensity=18.0,
        unit="mA",
        state="aborted",
        end_reason="link lost",
        stimulation_seconds=600,
        max_delivered=17.5,
    )
    doc = build_bundle(collect(c), now=NOW)
    c.close()
    model = fhir_bundle.Bundle.model_validate(doc)
    assert {type(e.resource).__name__ for e in model.entry} >= {"Device", "Procedure"}
    (proc,) = _by_type(doc, "Procedure")
    assert proc["status"] == "stopped" and proc["statusReason"] == {"text": "link lost"}
    assert proc["bodySite"][0]["coding"][0]["code"] == "16982005"
    (summary,) = [o for o in _by_type(doc, "Observation")]
    comp = {x["code"]["text"]: x for x in summary["component"]}
    assert comp["program"]["valueString"] == "burst"
    assert comp["peak intensity delivered"]["valueQuantity"] == {
        "value": 17.5,
        "unit": "mA",
        "system": "http://unitsofmeasure.org",
        "code": "mA",
    }


# R4 required value sets the library does not enforce (it checks structure, not bindings)
OBS_STATUS = {"registered", "preliminary", "final", "amended", "corrected", "cancelled"}
PROC_STATUS = {"preparation", "in-progress", "not-done", "on-hold", "stopped", "completed"}


def test_status_codes_are_in_the_r4_value_sets(conn: sqlite3.Connection) -> None:
    from tens.store.sessions import create_session
    from tests.journal.fixtures import at

    create_session(conn, started_at=at(NOW.date(), 7), state="running")  # never ended
    doc = build_bundle(collect(conn), now=NOW)
    assert {o["status"] for o in _by_type(doc, "Observation")} <= OBS_STATUS
    statuses = [p["status"] for p in _by_type(doc, "Procedure")]
    assert set(statuses) <= PROC_STATUS | {"unknown"} and statuses[-1] == "unknown"


def test_cli_export_fhir_without_the_library(tmp_path: Path) -> None:
    """`tens export --fhir` in a fresh process: writes a valid bundle and never imports
    fhir.resources (the export must not need it)."""
    import os
    import subprocess
    import sys

    home = tmp_path / "home2"
    env = {**os.environ, "TENS_HOME": str(home)}
    code = (
        "import sys; from tens.cli import main; rc = main(sys.argv[1:]); "
        "assert not any(m.startswith('fhir') for m in sys.modules), 'fhir imported'; "
        "raise SystemExit(rc)"
    )
    out = tmp_path / "bundle.json"
    subprocess.run([sys.executable, "-c", code, "pain", "add", "5"], env=env, check=True)
    done = subprocess.run(
        [sys.executable, "-c", code, "export", "--fhir", str(out), "--patient-name", "P"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert str(out) in done.stdout
    model = fhir_bundle.Bundle.model_validate_json(out.read_text(encoding="utf-8"))
    assert [type(e.resource).__name__ for e in model.entry] == ["Patient", "Observation"]
