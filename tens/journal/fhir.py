"""The journal as a FHIR R4 Bundle (type ``collection``), built as plain dicts.

No FHIR library is imported here: the export needs only the standard library. The tests
validate every resource with ``fhir.resources`` (a test dependency only).

What goes in:

* one ``Patient``: a placeholder with no identity unless the person gives a name;
* an ``Observation`` per pain score: LOINC 72514-3 (0–10 numeric rating), ``valueInteger``,
  the body site as SNOMED CT where the journal's region maps to one (:data:`SNOMED_SITES`)
  and always as text; a score taken before or after a session is ``partOf`` its Procedure;
* per PEG-3 answer: the LOINC panel 91148-7 with ``hasMember`` pointing at its three items
  (75893-8 average pain, 91145-3 enjoyment of life, 91146-1 general activity) and the mean
  score 91147-9;
* a ``Procedure`` per TENS session (status from its end state, period, placement as body
  site, end reason), a ``Device`` per wearable it used, and an ``Observation`` ``partOf``
  the Procedure with program, minutes of stimulation and peak intensity as components.

Resource ids are UUIDs derived from the journal's row ids (``uuid5``), so exporting the
same journal twice gives the same bundle apart from its timestamp.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

from tens.journal.export import Bundle
from tens.journal.files import write_atomic
from tens.journal.models import Context, PainEntry, PegEntry
from tens.journal.regions import REGIONS
from tens.store.sessions import SessionRecord

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

PAIN_NRS = ("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")
PEG_PANEL = "91148-7"
PEG_MEAN = "91147-9"
PEG_ITEMS: tuple[tuple[str, str, str], ...] = (
    # (LOINC code, PegEntry field, text)
    ("75893-8", "pain", "PEG: average pain in the past week (0–10)"),
    ("91145-3", "enjoyment", "PEG: pain's interference with enjoyment of life (0–10)"),
    ("91146-1", "activity", "PEG: pain's interference with general activity (0–10)"),
)

SNOMED_SITES: dict[str, tuple[str, str]] = {
    # journal area -> (SNOMED CT code, display), from DICOM PS3.16 CID 4031 "Common
    # Anatomic Region". Areas with no exact concept there (mouth, front of the neck, neck
    # (back), upper/mid/lower back, elbow, wrist / hand, buttock, ankle / foot) carry no
    # code: the region's label goes in bodySite.text instead, never a guessed code.
    "head": ("69536005", "Head"),
    "eyes": ("371398005", "Eye region"),
    "jaw": ("661005", "Jaw region"),
    "chest": ("816094009", "Chest"),
    "abdomen": ("818981001", "Abdomen"),
    "shoulder": ("16982005", "Shoulder"),
    "upper-arm": ("40983000", "Upper arm"),
    "forearm": ("14975008", "Forearm"),
    "hip": ("29836001", "Hip"),
    "thigh": ("68367000", "Thigh"),
    "knee": ("72696002", "Knee"),
    "lower-leg": ("30021000", "Lower leg"),
}

PROCEDURE_STATUS: dict[str, str] = {
    "finished": "completed",
    "stopped": "stopped",
    "aborted": "stopped",
    "refused": "not-done",
}
"""Session end state -> Procedure.status; anything else (a session that never ended,
e.g. after a crash) is ``unknown``."""

_NS = uuid.UUID("6f1c3d0e-2b7a-5e43-9a51-7d3c0e1f2a90")


def _urn(kind: str, key: object) -> str:
    return f"urn:uuid:{uuid.uuid5(_NS, f'{kind}/{key}')}"


def _id(urn: str) -> str:
    return urn.removeprefix("urn:uuid:")


def _when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def _loinc(code: str, display: str | None = None, text: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": LOINC, "code": code}
    if display is not None:
        coding["display"] = display
    out: dict[str, Any] = {"coding": [coding]}
    if text is not None:
        out["text"] = text
    return out


def _survey() -> list[dict[str, Any]]:
    return [{"coding": [{"system": OBS_CATEGORY, "code": "survey", "display": "Survey"}]}]


def body_site(region: str | None) -> dict[str, Any] | None:
    """The CodeableConcept for a journal region: SNOMED CT where mapped, text always."""
    if region is None:
        return None
    known = REGIONS.get(region)
    if known is None:
        return {"text": region}
    out: dict[str, Any] = {"text": known.label}
    site = SNOMED_SITES.get(known.area)
    if site is not None:
        out["coding"] = [{"system": SNOMED, "code": site[0], "display": site[1]}]
    return out


def _pain(e: PainEntry, patient: str, sessions: dict[int, str]) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "amended" if e.updated_at is not None else "final",
        "category": _survey(),
        "code": _loinc(*PAIN_NRS, text="Pain score (0–10)"),
        "subject": {"reference": patient},
        "effectiveDateTime": _when(e.at),
        "issued": _when(e.recorded_at),
        "valueInteger": e.score,
    }
    site = body_site(e.region)
    if site is not None:
        obs["bodySite"] = site
    notes = []
    if e.context is not Context.OTHER:
        notes.append(f"taken {e.context.value} a TENS session")
    if e.session_id is not None and e.session_id in sessions:
        obs["partOf"] = [{"reference": sessions[e.session_id]}]
    if e.red_flags:
        notes.append("red flags reported: " + ", ".join(f.value for f in e.red_flags))
    if e.helped:
        notes.append("also helped: " + ", ".join(e.helped))
    if e.note:
        notes.append(e.note)
    if notes:
        obs["note"] = [{"text": n} for n in notes]
    return obs


def _peg(p: PegEntry, patient: str) -> list[tuple[str, dict[str, Any]]]:
    base = {
        "resourceType": "Observation",
        "status": "final",
        "category": _survey(),
        "subject": {"reference": patient},
        "effectiveDateTime": _when(p.at),
        "issued": _when(p.recorded_at),
    }
    members: list[tuple[str, dict[str, Any]]] = []
    for code, field, text in PEG_ITEMS:
        members.append(
            (
                _urn(f"peg/{p.id}", code),
                {**base, "code": _loinc(code, text=text), "valueInteger": getattr(p, field)},
            )
        )
    members.append(
        (
            _urn(f"peg/{p.id}", PEG_MEAN),
            {
                **base,
                "code": _loinc(PEG_MEAN, text="PEG-3 mean score (0–10)"),
                "valueQuantity": {
                    "value": p.score,
                    "unit": "{score}",
                    "system": UCUM,
                    "code": "{score}",
                },
            },
        )
    )
    panel = {
        **base,
        "code": _loinc(PEG_PANEL, text="PEG-3 (pain, enjoyment of life, general activity)"),
        "hasMember": [{"reference": urn} for urn, _ in members],
    }
    return [(_urn("peg", p.id), panel), *members]


def _device(name: str) -> dict[str, Any]:
    return {
        "resourceType": "Device",
        "deviceName": [{"name": name, "type": "user-friendly-name"}],
        "type": {"text": "TENS wearable"},
    }


def _quantity(value: float, unit: str | None) -> dict[str, Any]:
    q: dict[str, Any] = {"value": round(value, 2)}
    if unit == "mA":
        q.update(unit="mA", system=UCUM, code="mA")
    elif unit:
        q["unit"] = unit
    return q


def _procedure(
    s: SessionRecord, patient: str, device: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    proc: dict[str, Any] = {
        "resourceType": "Procedure",
        "status": PROCEDURE_STATUS.get(s.state, "unknown"),
        "code": {"text": "TENS session (transcutaneous electrical nerve stimulation)"},
        "subject": {"reference": patient},
    }
    period = {"start": _when(s.started_at)}
    if s.ended_at is not None:
        period["end"] = _when(s.ended_at)
    proc["performedPeriod"] = period
    site = body_site(s.placement)
    if site is not None:
        proc["bodySite"] = [site]
    if s.end_reason:
        key = "statusReason" if proc["status"] in ("stopped", "not-done") else "outcome"
        proc[key] = {"text": s.end_reason}
    if device is not None:
        proc["focalDevice"] = [{"manipulated": {"reference": device}}]
    proc["note"] = [{"text": f"session end state: {s.state}"}]
    components: list[dict[str, Any]] = [
        {
            "code": {"text": "minutes of stimulation"},
            "valueQuantity": {
                "value": round(s.stimulation_seconds / 60, 1),
                "unit": "min",
                "system": UCUM,
                "code": "min",
            },
        },
        {
            "code": {"text": "peak intensity delivered"},
            "valueQuantity": _quantity(s.max_delivered, s.unit),
        },
    ]
    if s.program:
        components.insert(0, {"code": {"text": "program"}, "valueString": s.program})
    if s.target_intensity is not None:
        components.append(
            {
                "code": {"text": "target intensity"},
                "valueQuantity": _quantity(s.target_intensity, s.unit),
            }
        )
    summary: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "TENS session summary"},
        "subject": {"reference": patient},
        "effectivePeriod": period,
        "component": components,
    }
    if device is not None:
        summary["device"] = {"reference": device}
    return proc, summary


def build_bundle(
    data: Bundle, *, now: dt.datetime, patient_name: str | None = None
) -> dict[str, Any]:
    """The FHIR R4 Bundle (a plain dict) for entries, PEG-3 answers and sessions.

    Deleted entries are left out whatever ``data`` holds: a deletion is the person's word
    that the entry should not count.
    """
    entries: list[dict[str, Any]] = []

    def add(urn: str, resource: dict[str, Any]) -> None:
        entries.append({"fullUrl": urn, "resource": {"id": _id(urn), **resource}})

    patient = _urn("patient", "self")
    person: dict[str, Any] = {"resourceType": "Patient"}
    if patient_name:
        person["name"] = [{"text": patient_name}]
    add(patient, person)

    devices: dict[str, str] = {}
    for s in data.sessions:
        if s.device and s.device not in devices:
            devices[s.device] = _urn("device", s.device)
            add(devices[s.device], _device(s.device))

    procedures: dict[int, str] = {}
    for s in data.sessions:
        urn = _urn("session", s.id)
        procedures[s.id] = urn
        proc, summary = _procedure(s, patient, devices.get(s.device or ""))
        add(urn, proc)
        add(_urn("session-summary", s.id), {**summary, "partOf": [{"reference": urn}]})

    for e in data.entries:
        if not e.deleted:
            add(_urn("pain", e.id), _pain(e, patient, procedures))
    for p in data.peg:
        if p.deleted_at is None:
            for urn, resource in _peg(p, patient):
                add(urn, resource)

    return {
        "resourceType": "Bundle",
        "id": _id(_urn("bundle", "journal")),
        "type": "collection",
        "timestamp": _when(now),
        "entry": entries,
    }


def write_fhir(
    data: Bundle, path: Path, *, now: dt.datetime, patient_name: str | None = None
) -> Path:
    doc = build_bundle(data, now=now, patient_name=patient_name)
    return write_atomic(path, json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
