"""Settings of one simulated OpenTENS wearable (factory values, link timing, battery, link
security)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from simulators.opentens.codec import DeviceInfoRecord
from simulators.opentens.profile import MAX_CHANNELS, WaveformCode

DEFAULT_PASSKEY = 123456
"""The passkey printed on the simulated wearable unless configured otherwise."""
DEFAULT_MAX_BONDS = 4


@dataclass(frozen=True)
class LinkSecurity:
    """How the simulated wearable protects its link (None in ``SimConfig``: an open link)."""

    passkey: int = DEFAULT_PASSKEY
    """Six digits printed on the device (1-999999; 000000 is never used)."""
    keystore: Path | None = None
    """Bond file; None keeps bonds in memory (lost when the simulator stops)."""
    numeric_comparison: bool = False
    """The device has a display and a button: numeric comparison instead of passkey entry."""
    max_bonds: int = DEFAULT_MAX_BONDS

    def __post_init__(self) -> None:
        if not 1 <= self.passkey <= 999_999:
            raise ValueError("the passkey must be 000001-999999")
        if self.max_bonds < 1:
            raise ValueError("a device holds at least one bond")


@dataclass(frozen=True)
class SimConfig:
    """Everything that makes one simulated wearable; the defaults match the profile's vector."""

    name: str = "OpenTENS-Sim"
    channels: int = 2
    # factory output envelope (device info)
    intensity_max_ma: float = 80.0
    intensity_step_ma: float = 0.1
    pulse_width_us: tuple[int, int] = (50, 400)
    frequency_hz: tuple[float, float] = (1.0, 150.0)
    waveforms: frozenset[WaveformCode] = frozenset(WaveformCode)
    ramp_max_ma_per_s: float = 5.0
    watchdog_ms: int = 1000
    firmware: str = "sim-1.0"
    manufacturer: str = "tens project"
    model_number: str = "OpenTENS Simulator"
    # link timing: writes take effect at the next connection event
    interval_ms: float = 30.0
    jitter_ms: float = 0.0
    """Each connection event comes up to this much late (uniform), never past the next one."""
    loss: float = 0.0
    """Probability that a connection event is lost (writes and notifications wait a round)."""
    seed: int | None = 0
    advertising_interval_ms: float = 20.0
    # body and battery
    battery_percent: float = 100.0
    battery_drain_pct_per_ma_s: float = 0.0002
    """Battery percent used per mA delivered per second (20 mA for 30 min: 7.2 %)."""
    impedance_ohm: tuple[int, ...] = (1200, 1250, 1300, 1350)
    status_period_s: float = 1.0
    reboot_s: float = 0.5
    """How long a rebooting device stays silent before it advertises again."""
    security: LinkSecurity | None = None
    """Link security as profile version 2 requires (simulators.opentens.security); None: an
    open link, the test suite's mode for everything that is not about pairing."""

    def __post_init__(self) -> None:
        if not 1 <= self.channels <= MAX_CHANNELS:
            raise ValueError(f"channels must be 1-{MAX_CHANNELS}")
        if not 7.5 <= self.interval_ms <= 4000.0:
            raise ValueError("connection interval must be 7.5 ms to 4 s")
        if not 0.0 <= self.jitter_ms < self.interval_ms:
            raise ValueError("jitter must be >= 0 and below the interval")
        if not 0.0 <= self.loss < 1.0:
            raise ValueError("loss must be in [0, 1)")
        if not 0 <= self.battery_percent <= 100:
            raise ValueError("battery must be 0-100 %")
        if len(self.impedance_ohm) < self.channels:
            raise ValueError("one impedance per channel is needed")
        if any(not 0 < z < 0xFFFF for z in self.impedance_ohm):
            raise ValueError("impedance must be 1-65534 ohm")
        if not self.waveforms:
            raise ValueError("at least one waveform")
        if self.pulse_width_us[0] > self.pulse_width_us[1]:
            raise ValueError("pulse width min > max")
        if self.frequency_hz[0] > self.frequency_hz[1]:
            raise ValueError("frequency min > max")
        if self.intensity_step_ma <= 0 or self.ramp_max_ma_per_s <= 0 or self.watchdog_ms <= 0:
            raise ValueError("step, ramp and watchdog must be positive")
        self.device_info()  # validates ranges fit the wire format

    # wire units
    @property
    def intensity_max_units(self) -> int:
        return round(self.intensity_max_ma * 10)

    @property
    def intensity_step_units(self) -> int:
        return max(1, round(self.intensity_step_ma * 10))

    @property
    def ramp_max_units(self) -> int:
        return round(self.ramp_max_ma_per_s * 10)

    @property
    def frequency_units(self) -> tuple[int, int]:
        return round(self.frequency_hz[0] * 10), round(self.frequency_hz[1] * 10)

    def device_info(self) -> DeviceInfoRecord:
        fmin, fmax = self.frequency_units
        values = (
            self.intensity_max_units,
            self.intensity_step_units,
            *self.pulse_width_us,
            fmin,
            fmax,
            self.ramp_max_units,
            self.watchdog_ms,
        )
        if any(not 0 <= v <= 0xFFFF for v in values):
            raise ValueError("a factory value does not fit its u16 field")
        return DeviceInfoRecord(
            channels=self.channels,
            intensity_max=self.intensity_max_units,
            intensity_step=self.intensity_step_units,
            pulse_width_min=self.pulse_width_us[0],
            pulse_width_max=self.pulse_width_us[1],
            frequency_min=fmin,
            frequency_max=fmax,
            waveforms=sum(1 << int(w) for w in self.waveforms),
            ramp_max=self.ramp_max_units,
            watchdog_ms=self.watchdog_ms,
            firmware=self.firmware,
        )
