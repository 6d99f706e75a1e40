"""The simulated Coyotes against the vendor's protocol documents, vector by vector.

Sources: DG-LAB-OPENSOURCE, ``coyote/v3/README_V3.md`` and ``coyote/v2/README_V2.md`` (see
docs/coyote.md, "Simulator fidelity"). The frames below are the documents' hex examples or
built by hand from their byte tables; nothing here uses the drivers' encoders.
"""

from __future__ import annotations

import asyncio

import pytest

from simulators.coyote.model2 import Coyote2Model
from simulators.coyote.model3 import Coyote3Model
from tests.coyote.conftest import coyote2_rig, coyote3_rig
from tests.coyote.test_driver3 import OUT, run_for

pytestmark = pytest.mark.looptime

V3_WRITE = "0000150a-0000-1000-8000-00805f9b34fb"
V2_STRENGTH = "955a1504-0fe2-f5aa-a094-84b8d4f3e8ad"
V2_WAVE_A = "955a1506-0fe2-f5aa-a094-84b8d4f3e8ad"  # the device reads 0x1506 as channel A

# README_V3 "No.2": A at 10, then A +5 with sequence 0, ..., then A +10 with sequence 1
SET_A_10_SEQ_1 = (
    "B01C0A000A0A0A0A000000650000000000000065"  # by hand: seq 1, A set 10, waves dropped
)
NO2_STEP1 = "B00405000A0A0A0A000A141E0000000000000065"
NO2_STEP2 = "B00000000F0F0F0F28323C460000000000000065"
NO2_STEP3 = "B00000001E1E1E1E505A64640000000000000065"
NO2_STEP4 = "B0140A00283C5064645A5A5A0000000000000065"
NO1_STEP1 = "B00000000A0A0A0A000A141E0000000000000065"


def now() -> float:
    return asyncio.get_running_loop().time()


# --- 1. 0x150A is WRITE in the document ----------------------------------------------------


async def test_v3_write_characteristic_is_write_as_documented() -> None:
    async with coyote3_rig() as rig:
        client = rig.driver._client
        assert client is not None
        char = client.services.get_characteristic(V3_WRITE)
        assert char is not None and "write" in char.properties
        assert "write-without-response" not in char.properties
        # a write request is taken (README_V3 No.1, step 1: no strength change)
        await client.write_gatt_char(V3_WRITE, bytes.fromhex(NO1_STEP1), response=True)
        assert rig.sim.model.received[-1].data == bytes.fromhex(NO1_STEP1)


async def test_v3_write_without_response_is_an_option() -> None:
    """The vendor's maintainers say real units take writes without response
    (dungeonlab-open/dglab-bluetooth-protocol issue 27): an option, not the default."""
    from simulators.coyote.simulator import Coyote3Simulator
    from simulators.radio.radio import VirtualRadio

    radio = await VirtualRadio.local()
    sim = await Coyote3Simulator.start(radio, write_without_response=True)
    try:
        from devices import registry

        driver = await registry.open_device(radio.transport(), sim.address, 5.0)
        await driver.connect()
        client = driver._client  # type: ignore[attr-defined]
        char = client.services.get_characteristic(V3_WRITE)
        assert "write-without-response" in char.properties and "write" not in char.properties
        await driver.disconnect()
    finally:
        await sim.close()
        await radio.close()


# --- 2. one B0 covers 4 x 25 ms = 100 ms ---------------------------------------------------


async def test_v3_one_b0_frame_plays_100_ms() -> None:
    m = Coyote3Model()
    m.write(bytes.fromhex(SET_A_10_SEQ_1))  # its dropped waveform is 100 ms of nothing
    await asyncio.sleep(0.1)
    m.write(bytes.fromhex(NO1_STEP1))  # README_V3 No.1 step 1: A plays {10..}x{0,10,20,30}
    t0 = now()
    assert m.delivered(0) == 10
    await asyncio.sleep(0.2)
    end = m.record.for_channel(0)[-1]
    assert end.intensity_ma == 0
    assert end.t - t0 == pytest.approx(0.100)


async def test_v2_one_waveform_write_plays_100_ms() -> None:
    """README_V2: each [X, Y, Z] is valid for 0.1 s; [1, 9, 20] is 100 Hz at 100 us."""
    m = Coyote2Model()
    m.write_strength((70 << 11 | 0).to_bytes(3, "little"))  # A 70, B 0
    m.write_wave(0, (20 << 15 | 9 << 5 | 1).to_bytes(3, "little"))
    t0 = now()
    assert m.delivered(0) == 70
    await asyncio.sleep(0.2)
    end = m.record.for_channel(0)[-1]
    assert end.intensity_ma == 0
    assert end.t - t0 == pytest.approx(0.100)


# --- 3. sequence 0: no B1 --------------------------------------------------------------------


async def test_v3_strength_change_with_sequence_0_gets_no_b1() -> None:
    """README_V3 No.2: +5 with sequence 0 changes A to 15 but returns nothing; +10 with
    sequence 1 returns B1, 1, 25."""
    m = Coyote3Model()
    m.write(bytes.fromhex(SET_A_10_SEQ_1))
    assert m.replies[-1][1] == bytes.fromhex("B1010A00")
    n = len(m.replies)
    m.write(bytes.fromhex(NO2_STEP1))
    assert m.strength == [15, 0]
    m.write(bytes.fromhex(NO2_STEP2))
    m.write(bytes.fromhex(NO2_STEP3))
    assert len(m.replies) == n  # no B1 for a sequence-0 change
    m.write(bytes.fromhex(NO2_STEP4))
    assert m.strength == [25, 0]
    assert [r for _, r in m.replies[n:]] == [bytes.fromhex("B1011900")]


async def test_v3_wheel_still_answers_with_sequence_0() -> None:
    """README_V3 No.3: one turn of the A wheel up returns B1, 0, 11."""
    m = Coyote3Model()
    m.write(bytes.fromhex(SET_A_10_SEQ_1))
    m.turn_wheel(0, 1)
    assert m.replies[-1][1] == bytes.fromhex("B1000B00")


# --- 4. BF: an out-of-range soft limit leaves only that limit ---------------------------------


async def test_v3_bf_out_of_range_limit_leaves_only_that_limit() -> None:
    """README_V3 BF: soft limits 0-200; "a value outside the range does not change the soft
    limit". Frame by hand: BF, A 150, B 201, balances 160/160, 0/0."""
    m = Coyote3Model()
    m.write(bytes.fromhex("BF1E1EA0A00000"))  # A 30, B 30
    assert m.soft_limits == [30, 30]
    m.write(bytes.fromhex("BF96C9A0A00000"))
    assert m.soft_limits == [150, 30]
    m.write(bytes.fromhex("BFFF14A0A00505"))  # A 255 (kept), B 20; balances taken
    assert m.soft_limits == [150, 20]
    assert m.intensity_balance == [5, 5]


# --- 5. writes take effect at a connection event -------------------------------------------


@pytest.mark.parametrize("interval_ms", [30.0, 7.5])
async def test_v3_writes_take_effect_at_a_connection_event(interval_ms: float) -> None:
    from simulators.coyote.simulator import Coyote3Simulator

    assert Coyote3Simulator.DEFAULT_INTERVAL_MS == 30.0
    async with coyote3_rig(interval_ms=interval_ms) as rig:
        client = rig.driver._client
        assert client is not None
        link = rig.sim.link
        interval = interval_ms / 1000.0
        assert rig.driver._stream is not None
        rig.driver._stream.cancel()  # only this test's writes on the link
        await asyncio.sleep(0.2)
        for _ in range(3):
            await asyncio.sleep(interval / 3)
            t0 = now()
            await client.write_gatt_char(V3_WRITE, bytes.fromhex(NO1_STEP1), response=True)
            got = rig.sim.model.received[-1]
            assert got.data == bytes.fromhex(NO1_STEP1)
            assert t0 < got.t <= t0 + interval + 1e-6  # never at once, at most one event later
            k = (got.t - link.anchor) / interval
            assert k == pytest.approx(round(k), abs=1e-6)  # on the event grid


async def test_v2_writes_take_effect_at_a_connection_event() -> None:
    async with coyote2_rig() as rig:
        client = rig.driver._client
        assert client is not None
        link = rig.sim.link
        assert rig.driver._stream is not None
        rig.driver._stream.cancel()
        await asyncio.sleep(0.21)
        t0 = now()
        await client.write_gatt_char(V2_STRENGTH, bytes(3), response=True)
        got = rig.sim.model.received[-1]
        assert got.what == "strength"
        assert t0 < got.t <= t0 + 0.030 + 1e-6
        k = (got.t - link.anchor) / 0.030
        assert k == pytest.approx(round(k), abs=1e-6)


async def test_v3_stop_latency_is_at_least_one_event_on_the_record() -> None:
    async with coyote3_rig() as rig:
        await rig.driver.arm((0,))
        await rig.driver.set_output(0, OUT)
        await run_for(rig.driver, 0.5)
        assert rig.sim.model.delivered(0) > 0
        await asyncio.sleep(0.011)
        t0 = now()
        await rig.driver.stop()
        zero = rig.sim.record.for_channel(0)[-1]
        assert zero.intensity_ma == 0
        assert zero.t > t0


# --------------------------------------------------- writes after the link is gone
@pytest.mark.looptime
async def test_a_write_reaching_a_dropped_link_is_never_applied() -> None:
    """Campaign seed 8027: a B0 the central sent as the link dropped reached the simulator
    after its disconnect and was applied at the next event: 6 levels on the record with no
    link. A write that arrives after the link went down is lost with it, as on a real link."""
    from simulators.coyote.link import LinkTiming

    applied: list[str] = []
    link = LinkTiming(30.0)
    link.link_up()
    await link.apply(lambda: applied.append("before"))
    link.link_down()
    task = asyncio.ensure_future(link.apply(lambda: applied.append("after")))
    await asyncio.sleep(0.1)
    assert applied == ["before"]
    assert task.done()  # the writer is not left waiting either
    link.link_up()
    await link.apply(lambda: applied.append("new link"))
    assert applied == ["before", "new link"]
