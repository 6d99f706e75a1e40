"""docs/opentens-profile.md against both codecs: the version and every test vector agree.

The codec tests check each codec against vectors written into the tests; this checks that
those vectors are the document's, so a bumped version or an edited row cannot drift apart.
"""

from __future__ import annotations

import re
from pathlib import Path

from devices.opentens import profile as driver_profile
from simulators.opentens import profile as sim_profile
from tests.devices import test_opentens_codec as driver_vectors
from tests.simulator import test_codec as sim_vectors

DOC = Path(__file__).resolve().parents[2] / "docs" / "opentens-profile.md"
_HEX_CELL = re.compile(r"\|\s*`([0-9A-F]+)`\s*\|\s*$")


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _vectors(section: str) -> set[str]:
    """Hex cells of the rows under ``### section`` (up to the next heading)."""
    text = _doc()
    start = text.index(f"### {section}\n")
    end = text.find("\n#", start + 1)
    body = text[start : end if end != -1 else None]
    return {m.group(1) for line in body.splitlines() if (m := _HEX_CELL.search(line))}


def test_the_document_version_is_the_codecs_version() -> None:
    title = _doc().splitlines()[0]
    assert title == f"# The OpenTENS GATT profile, version {driver_profile.PROFILE_VERSION}"
    assert driver_profile.PROFILE_VERSION == sim_profile.PROFILE_VERSION == 2


def test_the_device_info_vector_carries_the_version() -> None:
    (info_hex,) = _vectors("Device info")
    assert int(info_hex[:2], 16) == driver_profile.PROFILE_VERSION
    assert driver_vectors.INFO_VECTOR[1] == info_hex
    assert sim_vectors.INFO_VECTOR[1] == info_hex


def test_every_command_and_status_row_is_checked_by_both_codecs() -> None:
    for section, driver_rows, sim_rows in (
        ("Commands", driver_vectors.COMMAND_VECTORS, sim_vectors.COMMAND_VECTORS),
        ("Status", driver_vectors.STATUS_VECTORS, sim_vectors.STATUS_VECTORS),
    ):
        documented = _vectors(section)
        assert documented, section
        assert documented == {h for _, h in driver_rows}, section
        assert documented == {h for _, h in sim_rows}, section


def test_the_security_section_names_the_att_errors() -> None:
    text = _doc()
    section = text[text.index("## Link security") : text.index("## Device info (read)")]
    for needed in ("Insufficient Authentication `0x05`", "Insufficient Encryption `0x0F`"):
        assert needed in section
