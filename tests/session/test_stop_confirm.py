"""A stop is done when the device confirms it; device-side limits before any output.

The controller on the simulated OpenTENS wearable (virtual radio, real SQLite, looptime).
Judged on the simulator's delivered-output record and on what the device was asked
(``sim.model.asked``), never on what the controller believes it sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from simulators.opentens import SimConfig
from simulators.opentens.codec import SetLimits, SetOutput, Stop
from tens.controller import MAX_DEVICE_WATCHDOG_S, STOP_UNCONFIRMED
from tens.device import ChannelOutput, DeviceRejected
from tens.events import LinkState, Notice, SessionState, Source
from tens.safety import StartRequest
from tens.store.sessions import list_audit

pytestmark = [pytest.mark.looptime]

BOUND_S = 1.0  # the OpenTENS driver's stop and ack bound (two intervals + margin, at most 1 s)


def _asked_after(sim: Any, t: float) -> list[Any]:
    return [c for at, c in sim.model.asked if at >= t]


def _notices(rig: Any) -> list[str]:
    return [e.text for e in rig.events if isinstance(e, Notice)]


async def _running(rig: Any, intensity: float = 10, minutes: float = 5) -> None:
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(intensity=intensity, minutes=minutes), Source.CLI)
    assert d.outcome == "allowed", d.reason


# --- item 3: an unconfirmed stop drops the link and says so ---------------------------------


async def test_unconfirmed_stop_drops_the_link_within_the_bound_and_says_so(rig_factory) -> None:
    rig = await rig_factory()
    await _running(rig)
    await asyncio.sleep(8)
    assert rig.last() > 5
    rig.sim.stick(True, watchdog=False)  # hung firmware: no ack, no status, output stays on
    loop = asyncio.get_running_loop()
    t_stop = loop.time()
    decision = await rig.ctrl.stop(Source.TUI)
    assert loop.time() - t_stop <= BOUND_S + 0.05
    assert decision.code == STOP_UNCONFIRMED
    assert "did not confirm" in decision.reason
    # the record: output 0 from the disconnect, within the bound, and nothing after it
    zero = next(s for s in rig.record.for_channel(0) if s.t >= t_stop)
    assert (zero.intensity_ma, zero.cause) == (0.0, "disconnect")
    assert zero.t - t_stop <= BOUND_S + 0.05
    snap = rig.ctrl.snapshot()
    assert snap.link is LinkState.LOST
    assert snap.session is SessionState.STOPPED
    assert snap.end_reason is not None and "did not confirm" in snap.end_reason
    assert any("did not confirm the stop" in n for n in _notices(rig))
    assert rig.ctrl.unconfirmed_stops == 1
    await rig.ctrl.audit.flush()
    stops = [a for a in await rig.db.run(list_audit) if a.action == "stop"]
    assert stops and "did not confirm" in stops[-1].reason and stops[-1].source == "tui"
    n = len(rig.record)
    await asyncio.sleep(5)
    assert all(s.intensity_ma == 0 for s in rig.record.samples[n:])


async def test_the_mqtt_stop_reply_says_unconfirmed(rig_factory) -> None:
    """The daemon's stop reply branches on the decision's code (not on its wording)."""
    import datetime as dt

    from tens.daemon.commands import CommandHandler

    rig = await rig_factory()
    await _running(rig)
    await asyncio.sleep(5)
    handler = CommandHandler(
        control=rig.ctrl,
        remote_start=False,
        max_age_s=5.0,
        wall=lambda: dt.datetime.now(dt.UTC),
    )
    rig.sim.stick(True, watchdog=False)
    result = await handler.handle("stop", b'{"id": "s1"}')
    assert (result.ok, result.outcome, result.id) == (False, "error", "s1")
    assert result.reason is not None and "did not confirm" in result.reason
    assert rig.ctrl.snapshot().link is LinkState.LOST


async def test_a_confirmed_stop_keeps_the_link(rig_factory) -> None:
    rig = await rig_factory()
    await _running(rig)
    await asyncio.sleep(5)
    decision = await rig.ctrl.stop(Source.MQTT)
    assert decision.outcome == "allowed" and decision.code is None
    assert rig.ctrl.snapshot().link is LinkState.CONNECTED
    assert rig.ctrl.unconfirmed_stops == 0
    assert rig.record.for_channel(0)[-1].cause == "stop"


async def test_an_aborts_stop_unconfirmed_drops_the_link_too(rig_factory) -> None:
    """An abort's STOP (here after a malformed status) that is not confirmed."""
    rig = await rig_factory()
    await _running(rig)
    await asyncio.sleep(6)
    rig.sim.send_malformed("crc")
    rig.sim.stick(True, watchdog=False)
    t0 = asyncio.get_running_loop().time()
    await rig.ctrl.wait_ended()
    await asyncio.sleep(2 * BOUND_S)
    assert rig.ctrl.snapshot().session is SessionState.ABORTED
    zero = next(s for s in rig.record.for_channel(0) if s.t >= t0)
    assert (zero.intensity_ma, zero.cause) == (0.0, "disconnect")
    assert zero.t - t0 <= 2 * BOUND_S + 0.1
    assert rig.ctrl.unconfirmed_stops >= 1
    assert rig.ctrl.snapshot().link is LinkState.LOST


async def test_a_pauses_stop_unconfirmed_ends_the_session_and_drops_the_link(rig_factory) -> None:
    rig = await rig_factory()
    await _running(rig)
    await asyncio.sleep(8)
    rig.sim.stick(True, watchdog=False)
    t0 = asyncio.get_running_loop().time()
    d = await rig.ctrl.pause(Source.TUI)
    # the reply says so: not "output 0; resume ramps from zero" for a session that is gone
    assert (d.action, d.code, d.source) == ("pause", "stop_unconfirmed", Source.TUI), d
    assert d.reasons[0] == "pause", d.reasons  # what was being done when the stop failed
    assert "did not confirm STOP" in d.reason, d.reason  # the driver's own words, kept
    assert "resume" not in d.reason, d.reason
    zero = next(s for s in rig.record.for_channel(0) if s.t >= t0)
    assert (zero.intensity_ma, zero.cause) == (0.0, "disconnect")
    assert zero.t - t0 <= BOUND_S + 0.05
    snap = rig.ctrl.snapshot()
    assert snap.link is LinkState.LOST
    assert snap.session is SessionState.ABORTED  # not left paused on a link that is gone
    assert rig.ctrl.unconfirmed_stops == 1
    assert any("did not confirm the stop" in n for n in _notices(rig))


async def test_a_link_lost_after_a_confirmed_pause_still_aborts_the_session(rig_factory) -> None:
    """A stop in progress owns the ending of its session, so a link loss meanwhile does not
    abort it too; once the pause's stop is done (confirmed), a later link loss aborts the
    resumed session as link lost, as ever (a stop left counted as "in progress" would hide it)."""
    rig = await rig_factory()
    await _running(rig)
    await asyncio.sleep(3)
    assert (await rig.ctrl.pause(Source.TUI)).outcome == "allowed"
    await asyncio.sleep(1)
    assert (await rig.ctrl.resume(Source.TUI)).outcome == "allowed"
    await asyncio.sleep(3)
    await rig.sim.drop_link()
    await rig.ctrl.wait_ended()
    snap = rig.ctrl.snapshot()
    assert snap.session is SessionState.ABORTED and snap.end_code == "link_lost", snap


# --- item 3: silent firmware mid-session ----------------------------------------------------


async def test_silent_firmware_mid_session_is_aborted_and_the_link_dropped(rig_factory) -> None:
    """The firmware hangs with its watchdog (a non-conforming device): only the controller
    can end the current. Today the session stays running until the link goes."""
    rig = await rig_factory()
    await _running(rig)
    await asyncio.sleep(8)  # holding at 10 mA
    before = rig.last()
    assert before > 5
    loop = asyncio.get_running_loop()
    t_hang = loop.time()
    rig.sim.stick(True, watchdog=False)
    await asyncio.sleep(3)
    zero = next(s for s in rig.record.for_channel(0) if s.t >= t_hang)
    assert (zero.intensity_ma, zero.cause) == (0.0, "disconnect")
    # one keepalive interval (0.3 s with the 1 s watchdog), its ack bound, the stop bound
    assert zero.t - t_hang <= 0.3 + 2 * BOUND_S + 0.1
    snap = rig.ctrl.snapshot()
    assert snap.session is SessionState.ABORTED
    assert snap.link is LinkState.LOST
    assert rig.ctrl.unconfirmed_stops == 1
    await rig.ctrl.audit.flush()
    assert any(
        a.action == "stop" and "did not confirm" in a.reason for a in await rig.db.run(list_audit)
    )


async def test_a_ten_second_watchdog_is_set_to_one_second_at_connect(rig_factory) -> None:
    rig = await rig_factory(sim_config=SimConfig(watchdog_ms=10_000))
    await rig.ctrl.connect()
    assert rig.sim.model.limits.watchdog_ms == 1000
    assert rig.ctrl.device is not None
    assert rig.ctrl.device.capabilities.watchdog_timeout_s == MAX_DEVICE_WATCHDOG_S
    d = await rig.ctrl.start(StartRequest(intensity=10, minutes=5), Source.CLI)
    assert d.outcome == "allowed"
    await asyncio.sleep(8)
    t_hang = asyncio.get_running_loop().time()
    rig.sim.stick(True)  # firmware hangs; its (now 1 s) watchdog still acts
    await asyncio.sleep(3)
    zero = next(s for s in rig.record.for_channel(0) if s.t >= t_hang)
    assert zero.intensity_ma == 0.0
    assert zero.t - t_hang <= 1.0 + 0.05  # was 9.9 s with the factory 10 s watchdog
    assert rig.ctrl.snapshot().session is SessionState.ABORTED


class _NoDeviceLimits:
    """The real driver without ``set_device_limits``: a device whose own limits and watchdog
    cannot be set (what the controller must refuse when its watchdog is above 1 s)."""

    def __init__(self, inner: Any, watchdog_s: float | None) -> None:
        self._inner = inner
        self._watchdog_s = watchdog_s

    @property
    def capabilities(self) -> Any:
        from dataclasses import replace

        return replace(self._inner.capabilities, watchdog_timeout_s=self._watchdog_s)

    def __getattr__(self, name: str) -> Any:
        if name == "set_device_limits":
            raise AttributeError(name)
        return getattr(self._inner, name)


@pytest.mark.parametrize("watchdog_s", [10.0, None])
async def test_a_device_whose_watchdog_cannot_be_set_to_1s_is_refused(
    rig_factory, watchdog_s: float | None
) -> None:
    rig = await rig_factory(sim_config=SimConfig(watchdog_ms=10_000))
    opener = rig.ctrl._open_device

    async def open_without_limits() -> Any:
        return _NoDeviceLimits(await opener(), watchdog_s)

    rig.ctrl._open_device = open_without_limits
    await rig.ctrl.connect()
    assert rig.ctrl.limits_in_force is None
    assert rig.ctrl.limits_refusal is not None and "watchdog" in rig.ctrl.limits_refusal
    d = await rig.ctrl.start(StartRequest(intensity=5), Source.CLI)
    assert d.refused and "watchdog" in d.reason
    await asyncio.sleep(2)
    assert rig.delivered_max() == 0
    assert not [c for c in rig.sim.model.asked if isinstance(c, SetOutput)]


# --- item 4: device-side limits in force before the first non-zero output -------------------


async def test_set_limits_refused_at_connect_no_session_starts(rig_factory) -> None:
    rig = await rig_factory()
    rig.sim.reject_next_write()  # the first write after connect is SET_LIMITS
    await rig.ctrl.connect()
    assert rig.ctrl.limits_in_force is None
    reason = rig.ctrl.limits_refusal
    assert reason is not None and "own limits could not be set" in reason and "BUSY" in reason
    assert any("own limits could not be set" in n for n in _notices(rig))
    d = await rig.ctrl.start(StartRequest(intensity=5), Source.MQTT)
    assert d.refused and "own limits could not be set" in d.reason
    await asyncio.sleep(2)
    assert rig.delivered_max() == 0
    assert not [c for c in rig.sim.model.asked if isinstance(c, SetOutput)]


async def test_set_limits_unacknowledged_at_connect_no_session_starts(rig_factory) -> None:
    rig = await rig_factory()
    rig.sim.stick(True)  # answers writes, acknowledges nothing
    await rig.ctrl.connect()
    rig.sim.stick(False)
    assert rig.ctrl.limits_in_force is None
    assert rig.ctrl.limits_refusal is not None
    assert "did not acknowledge SET_LIMITS" in rig.ctrl.limits_refusal
    d = await rig.ctrl.start(StartRequest(intensity=5), Source.TUI)
    assert d.refused
    await asyncio.sleep(2)
    assert rig.delivered_max() == 0


async def test_device_limits_stricter_than_ours_are_kept(rig_factory) -> None:
    """The device's factory ramp (1 mA/s) is below ours (2 mA/s): we write the lower, and
    a session starts (today the SET_LIMITS is refused as 'above the factory value', only a
    warning, and the session runs without our limits on the device)."""
    rig = await rig_factory(sim_config=SimConfig(ramp_max_ma_per_s=1.0, intensity_max_ma=30.0))
    await rig.ctrl.connect()
    assert rig.ctrl.limits_refusal is None
    asked = [c for _, c in rig.sim.model.asked if isinstance(c, SetLimits)]
    assert [(c.max_intensity, c.max_ramp, c.watchdog_ms) for c in asked] == [(300, 10, 1000)]
    lim = rig.sim.model.limits
    assert (lim.max_intensity, lim.max_ramp, lim.watchdog_ms) == (300, 10, 1000)
    d = await rig.ctrl.start(StartRequest(intensity=5, minutes=1), Source.CLI)
    assert d.outcome == "allowed"
    await asyncio.sleep(3)
    assert 0 < rig.delivered_max() <= 3 * 1.0 + 0.11


async def test_set_limits_is_the_first_write_and_before_any_output(rig_factory) -> None:
    rig = await rig_factory()
    await _running(rig, intensity=5, minutes=1)
    await asyncio.sleep(3)
    kinds = [type(c).__name__ for _, c in rig.sim.model.asked]
    assert kinds[0] == "SetLimits"
    assert kinds.index("SetLimits") < kinds.index("Start") < kinds.index("SetOutput")


# --- item 4 (OpenTENS): halt before STOP, the halt flag, STOP disarms -------------------------


async def test_no_setpoint_is_asked_after_a_stop_during_a_ramp(rig_factory) -> None:
    """Kills "stop writes STOP before halting the output task": while the STOP waits for its
    confirmation (here: never, the firmware hangs) the ramping task must not write again."""
    rig = await rig_factory()
    await _running(rig, intensity=20)
    await asyncio.sleep(3)  # ramping: a new setpoint every 0.1 s
    rig.sim.stick(True, watchdog=False)
    t_stop = asyncio.get_running_loop().time()
    await rig.ctrl.stop(Source.CLI)
    asked = _asked_after(rig.sim, t_stop)
    assert asked and isinstance(asked[0], Stop)
    assert not [c for c in asked if isinstance(c, SetOutput)], asked
    assert rig.ctrl.snapshot().session is SessionState.STOPPED


class _FinishesWritesInFlight:
    """The real driver, but a ``set_output`` that completes a write already started when its
    caller is cancelled and returns normally (as a BLE stack that cannot take a request back
    may): the cancellation of the output task is lost, and only the halt flag keeps it from
    its next device call."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def set_output(self, channel: int, output: ChannelOutput) -> None:
        write = asyncio.ensure_future(self._inner.set_output(channel, output))
        try:
            await asyncio.shield(write)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            with contextlib.suppress(Exception):
                await write


async def test_the_halt_flag_holds_when_a_cancellation_is_lost(rig_factory) -> None:
    """Kills "_halt_output no longer sets the runner's halt flag"."""
    rig = await rig_factory()
    opener = rig.ctrl._open_device
    wrapped: list[_FinishesWritesInFlight] = []

    async def open_wrapped() -> Any:
        wrapped.append(_FinishesWritesInFlight(await opener()))
        return wrapped[-1]

    rig.ctrl._open_device = open_wrapped
    await rig.ctrl.connect()
    d = await rig.ctrl.start(StartRequest(intensity=20, minutes=5, channels=(0, 1)), Source.CLI)
    assert d.outcome == "allowed", d.reason
    await asyncio.sleep(1)
    n = len(rig.sim.model.asked)

    # poll at 1 ms (well inside one 30 ms connection event): the model has no event for it
    def on_air() -> bool:
        return any(isinstance(c, SetOutput) and c.channel == 0 for _, c in rig.sim.model.asked[n:])

    while not on_air():  # noqa: ASYNC110
        await asyncio.sleep(0.001)
    # the task is inside channel 0's write now: on the air, waiting for its ack
    t_stop = asyncio.get_running_loop().time()
    decision = await rig.ctrl.stop(Source.TUI)
    assert decision.outcome == "allowed"
    await asyncio.sleep(3)
    asked = _asked_after(rig.sim, t_stop)
    stop_at = next(i for i, c in enumerate(asked) if isinstance(c, Stop))
    assert not [c for c in asked[stop_at:] if isinstance(c, SetOutput)], asked
    assert rig.delivered_max(1) == 0 or rig.last(1) == 0
    assert rig.last(0) == 0


async def test_a_set_output_landing_just_after_a_stop_delivers_nothing(rig_factory) -> None:
    """The profile's rule 8: STOP disarms. A SET_OUTPUT racing the STOP (written right after
    it, as a stray write from any source would be) is refused, and the record stays at 0."""
    rig = await rig_factory()
    await _running(rig, intensity=10)
    await asyncio.sleep(8)
    dev = rig.ctrl.device
    assert dev is not None
    rig.ctrl._halt_output()
    t_stop = asyncio.get_running_loop().time()
    stop = asyncio.ensure_future(dev.stop(None))
    racing = asyncio.ensure_future(dev.set_output(0, ChannelOutput(10.0, 200, 80.0)))
    await stop
    with pytest.raises(DeviceRejected, match="NOT_ARMED"):
        await racing
    await asyncio.sleep(2)
    after = [s for s in rig.record.for_channel(0) if s.t >= t_stop]
    assert [(s.intensity_ma, s.cause) for s in after] == [(0.0, "stop")]
    asked = _asked_after(rig.sim, t_stop)
    names = [type(c).__name__ for c in asked]
    assert [n for n in names if n in ("Stop", "SetOutput")][:2] == ["Stop", "SetOutput"]


async def test_a_session_task_that_fails_unexpectedly_aborts_says_why_and_logs_it(
    rig_factory, caplog
) -> None:
    """A bug in the output path (here a device call raising what no driver should) ends the
    session as aborted with the exception named, output stopped on the record, and the
    traceback in the log for whoever has to fix it (issue 12's mutation gap in
    ``_on_task_done``)."""
    import logging

    rig = await rig_factory()
    await _running(rig)
    await asyncio.sleep(2)
    dev = rig.ctrl.device

    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug in the output path")

    dev.set_output = broken  # type: ignore[method-assign]
    dev.keepalive = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="tens.controller"):
        await rig.ctrl.wait_ended()
        t_end = asyncio.get_running_loop().time()
        await asyncio.sleep(1)
    # a STOP ended the output, not the device's watchdog a second later
    zero = next(x for x in rig.record.for_channel(0) if x.t >= t_end - 0.2 and x.intensity_ma == 0)
    assert zero.cause == "stop" and zero.t - t_end <= 0.3, zero
    snap = rig.ctrl.snapshot()
    assert snap.session is SessionState.ABORTED
    assert "unexpected error" in (snap.end_reason or "") and "a bug in the output" in (
        snap.end_reason or ""
    ), snap.end_reason
    assert rig.last() == 0.0  # the stop went out (the device's own stop still works)
    [rec] = [r for r in caplog.records if r.getMessage() == "session task failed"]
    assert rec.levelno == logging.ERROR and rec.exc_info and rec.exc_info[0] is RuntimeError
