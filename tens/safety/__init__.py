"""The safety governor: the one chokepoint every output change passes. See governor.py."""

from tens.safety.governor import (
    EffectiveLimits,
    GovernorRefusal,
    StartPlan,
    StartRequest,
    Usage,
    check_start,
    check_target,
    effective_limits,
    gate,
    next_setpoint,
    quantise_down,
    rise_ceiling,
    rise_slack,
    rms_density,
)

__all__ = [
    "EffectiveLimits",
    "GovernorRefusal",
    "StartPlan",
    "StartRequest",
    "Usage",
    "check_start",
    "check_target",
    "effective_limits",
    "gate",
    "next_setpoint",
    "quantise_down",
    "rise_ceiling",
    "rise_slack",
    "rms_density",
]
