"""Waveform rendering: our programs' output settings -> Coyote waveform values, per 100 ms.

Pure functions of (setting, frame index since the setting began). Both Coyote models take a
"frequency value" that is really a pulse period in milliseconds (10-1000), so both render
1-100 Hz. Intensity is not rendered here: it is the channel *strength* (levels), sent apart.

- Coyote 3.0: the B0 frame carries, per channel, four 25 ms (frequency byte, intensity %)
  pairs. The frame has **no pulse-width field**: the device picks its own pulse width and the
  requested one is not sent (stated in docs/coyote.md).
  continuous: intensity 100 % in every slot; burst: 75 ms at 100 % then 425 ms at 0 %, twice
  a second; modulated: intensity swept 100 % -> 50 % -> 100 % over 12 s.
- Coyote 2.0: one (X, Y, Z) value per channel per 100 ms, X/Y from the vendor's suggestion
  for F = 1000 / Hz, Z = pulse width / 5 µs (5-155 µs).
  continuous: that value in every frame; burst: that value for 100 ms, then 400 ms of
  silence (X = 0), twice a second; modulated: Z swept Z -> Z/2 -> Z over 12 s.
"""

from __future__ import annotations

from devices.coyote import v2codec, v3codec
from tens.device import ChannelOutput, Waveform

FREQUENCY_HZ = (1.0, 100.0)
"""1000 / period for periods of 10-1000 ms: the range both models can render."""

V2_PULSE_WIDTH_US = (
    v2codec.PULSE_WIDTH_UNIT_US,
    v2codec.Z_MAX * v2codec.PULSE_WIDTH_UNIT_US,
)

BURST_PERIOD_S = 0.5
V3_BURST_ON_SLOTS = 3
"""75 ms of a 500 ms cycle: 7-8 pulses at 100 Hz, twice a second."""
V2_BURST_ON_FRAMES = 1
SWEEP_FRAMES = 120
"""12 s at 100 ms a frame."""
V3_SWEEP_LOW_PERCENT = 50


class RenderError(ValueError):
    """A setting the device cannot render; nothing is sent for it."""


def period_ms(frequency_hz: float) -> int:
    """The pulse period in whole milliseconds for a frequency of 1-100 Hz."""
    lo, hi = FREQUENCY_HZ
    if not lo <= frequency_hz <= hi:
        raise RenderError(f"frequency {frequency_hz:g} Hz is outside {lo:g}-{hi:g} Hz")
    return min(1000, max(10, round(1000.0 / frequency_hz)))


def _triangle(frame: int, period: int) -> float:
    """0 at the start of each period, 1 half-way, back to 0: a linear sweep."""
    phase = (frame % period) / period
    return 1.0 - abs(2.0 * phase - 1.0)


def v3_wave(output: ChannelOutput, frame: int) -> v3codec.WaveSlots:
    """The four 25 ms pairs for frame number ``frame`` (0 = the first since the setting)."""
    if output.intensity <= 0:
        return v3codec.DROPPED
    fbyte = v3codec.period_to_byte(period_ms(output.frequency_hz))
    freqs = (fbyte, fbyte, fbyte, fbyte)
    full = v3codec.WAVE_INTENSITY_MAX
    if output.waveform is Waveform.CONTINUOUS:
        levels = (full, full, full, full)
    elif output.waveform is Waveform.BURST:
        cycle = round(BURST_PERIOD_S / v3codec.SLOT_S)
        levels_list = [
            full if (frame * v3codec.SLOTS + i) % cycle < V3_BURST_ON_SLOTS else 0
            for i in range(v3codec.SLOTS)
        ]
        levels = (levels_list[0], levels_list[1], levels_list[2], levels_list[3])
    elif output.waveform is Waveform.MODULATED:
        depth = full - V3_SWEEP_LOW_PERCENT
        level = round(full - depth * _triangle(frame, SWEEP_FRAMES))
        levels = (level, level, level, level)
    else:  # pragma: no cover - a new Waveform member must be rendered on purpose
        raise RenderError(f"waveform {output.waveform} is not rendered on the Coyote 3.0")
    return v3codec.WaveSlots(freqs, levels)


def v2_z(pulse_width_us: int) -> int:
    lo, hi = V2_PULSE_WIDTH_US
    if not lo <= pulse_width_us <= hi:
        raise RenderError(f"pulse width {pulse_width_us} µs is outside {lo}-{hi} µs")
    return round(pulse_width_us / v2codec.PULSE_WIDTH_UNIT_US)


V2_SILENT = v2codec.Pulse(0, 0, 0)


def v2_pulse(output: ChannelOutput, frame: int) -> v2codec.Pulse:
    """The (X, Y, Z) value for frame number ``frame`` (0 = the first since the setting)."""
    if output.intensity <= 0:
        return V2_SILENT
    x, y = v2codec.vendor_xy(period_ms(output.frequency_hz))
    z = v2_z(output.pulse_width_us)
    if output.waveform is Waveform.CONTINUOUS:
        return v2codec.Pulse(x, y, z)
    if output.waveform is Waveform.BURST:
        cycle = round(BURST_PERIOD_S / v2codec.FRAME_S)
        return v2codec.Pulse(x, y, z) if frame % cycle < V2_BURST_ON_FRAMES else V2_SILENT
    if output.waveform is Waveform.MODULATED:
        low = max(1, z // 2)
        return v2codec.Pulse(x, y, round(z - (z - low) * _triangle(frame, SWEEP_FRAMES)))
    raise RenderError(f"waveform {output.waveform} is not rendered on the Coyote 2.0")


def check_renderable_v3(output: ChannelOutput) -> None:
    """Raise :class:`RenderError` unless the Coyote 3.0 can render ``output``."""
    v3_wave(output, 0)


def check_renderable_v2(output: ChannelOutput) -> None:
    """Raise :class:`RenderError` unless the Coyote 2.0 can render ``output``."""
    v2_pulse(output, 0)
