"""Stimulation programs: the built-in ones and custom ones from TOML.

A program says what pulses to give (frequency, pulse width, waveform); the person chooses the
intensity. ``duty()`` is the largest phase-duration x pulse-rate product over the program's
pattern (for burst: inside a train), which the governor needs for the r.m.s. current-density
check.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tens.device import Capabilities, Waveform


class Program(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    waveform: Waveform = Waveform.CONTINUOUS
    frequency_hz: float = Field(gt=0, le=1000)
    pulse_width_us: int = Field(gt=0, le=1000)
    # burst: trains of `burst_pulses` pulses at `frequency_hz`, repeated `burst_rate_hz` a second
    burst_pulses: int | None = Field(None, ge=2, le=20)
    burst_rate_hz: float | None = Field(None, gt=0, le=10)
    # modulated: swept between (frequency_hz, pulse_width_us) and these over `sweep_s`
    sweep_frequency_hz: float | None = Field(None, gt=0, le=1000)
    sweep_pulse_width_us: int | None = Field(None, gt=0, le=1000)
    sweep_s: float | None = Field(None, gt=0, le=120)

    @model_validator(mode="after")
    def _shape(self) -> Program:
        burst = (self.burst_pulses, self.burst_rate_hz)
        sweep = (self.sweep_frequency_hz, self.sweep_pulse_width_us, self.sweep_s)
        if self.waveform is Waveform.BURST and None in burst:
            raise ValueError("a burst program needs burst_pulses and burst_rate_hz")
        if self.waveform is Waveform.MODULATED and None in sweep:
            raise ValueError(
                "a modulated program needs sweep_frequency_hz, sweep_pulse_width_us, sweep_s"
            )
        return self

    def frequencies(self) -> tuple[float, float]:
        fs = [self.frequency_hz]
        if self.waveform is Waveform.MODULATED and self.sweep_frequency_hz is not None:
            fs.append(self.sweep_frequency_hz)
        return min(fs), max(fs)

    def pulse_widths(self) -> tuple[int, int]:
        ws = [self.pulse_width_us]
        if self.waveform is Waveform.MODULATED and self.sweep_pulse_width_us is not None:
            ws.append(self.sweep_pulse_width_us)
        return min(ws), max(ws)

    def pulses_per_second(self) -> float:
        """Average pulse rate (bursts deliver burst_pulses per train)."""
        if self.waveform is Waveform.BURST and self.burst_pulses and self.burst_rate_hz:
            return self.burst_pulses * self.burst_rate_hz
        return self.frequency_hz

    def duty(self) -> float:
        """Largest (phase duration in s x pulses per second) over the pattern, at its worst
        moment: for burst, the rate *inside* a train (``frequency_hz``), not the average over
        the burst period (``pulses_per_second``), which is lower by the gap between trains
        (7 pulses at 100 Hz twice a second: 100 vs 14 pulses/s, 2.67x in r.m.s.). The
        device is told only the waveform code, frequency and pulse width, so this is also
        the worst it may render for burst: continuous pulses at that frequency."""
        if self.waveform is Waveform.BURST:
            return self.pulse_width_us * 1e-6 * self.frequency_hz
        if self.waveform is Waveform.MODULATED and self.sweep_frequency_hz is not None:
            a = self.pulse_width_us * 1e-6 * self.frequency_hz
            b = (self.sweep_pulse_width_us or self.pulse_width_us) * 1e-6 * self.sweep_frequency_hz
            # a linear sweep of both peaks in the interior at most at the larger product of
            # the extremes of each: bound it from above, never under-estimate
            fmax = max(self.frequency_hz, self.sweep_frequency_hz)
            wmax = max(self.pulse_width_us, self.sweep_pulse_width_us or 0)
            return max(a, b, wmax * 1e-6 * fmax)
        return self.pulse_width_us * 1e-6 * self.pulses_per_second()

    def unrenderable_reason(self, caps: Capabilities) -> str | None:
        """Why this device cannot render the program, or None if it can."""
        if self.waveform not in caps.waveforms:
            have = ", ".join(sorted(w.value for w in caps.waveforms)) or "none"
            return f"program {self.name} needs the {self.waveform} waveform; the device has {have}"
        flo, fhi = self.frequencies()
        dlo, dhi = caps.frequency_hz
        if flo < dlo or fhi > dhi:
            return (
                f"program {self.name} needs {flo:g}–{fhi:g} Hz; "
                f"the device supports {dlo:g}–{dhi:g} Hz"
            )
        wlo, whi = self.pulse_widths()
        plo, phi = caps.pulse_width_us
        if wlo < plo or whi > phi:
            return (
                f"program {self.name} needs {wlo}–{whi} µs pulses; "
                f"the device supports {plo}–{phi} µs"
            )
        return None


BUILTIN_PROGRAMS: tuple[Program, ...] = (
    Program(
        name="conventional",
        description="High-frequency TENS: 100 Hz, 150 µs; strong but comfortable, no twitching",
        frequency_hz=100,
        pulse_width_us=150,
    ),
    Program(
        name="acupuncture",
        description="Acupuncture-like TENS: 2 Hz, 225 µs; stronger, visible muscle twitches",
        frequency_hz=2,
        pulse_width_us=225,
    ),
    Program(
        name="burst",
        description="Bursts of 7 pulses at 100 Hz, twice a second",
        waveform=Waveform.BURST,
        frequency_hz=100,
        pulse_width_us=200,
        burst_pulses=7,
        burst_rate_hz=2,
    ),
    Program(
        name="modulated",
        description="Sweeps 120 Hz/100 µs to 2 Hz/200 µs over 12 s, against accommodation",
        waveform=Waveform.MODULATED,
        frequency_hz=120,
        pulse_width_us=100,
        sweep_frequency_hz=2,
        sweep_pulse_width_us=200,
        sweep_s=12,
    ),
)


def all_programs(custom: tuple[Program, ...] | list[Program] = ()) -> dict[str, Program]:
    """Built-in programs plus custom ones; a custom program may not shadow a built-in."""
    out = {p.name: p for p in BUILTIN_PROGRAMS}
    for p in custom:
        if p.name in out:
            raise ValueError(f"programs: custom program {p.name!r} has a built-in program's name")
        out[p.name] = p
    return out
