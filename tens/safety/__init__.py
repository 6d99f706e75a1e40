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
    "rms_density",
]
