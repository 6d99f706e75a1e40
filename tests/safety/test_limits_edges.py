"""tens/limits.py: the level sections that cannot be used, with their exact keys, codes and
messages (kills the message and separator mutants of Limits.level_problems,
tests/mutation/run.sh)."""

from __future__ import annotations

from tens.limits import HARD_CAPS, LevelLimits, LimitProblem, Limits


def test_level_problems_name_the_key_the_code_and_the_reason() -> None:
    limits = Limits(
        levels={
            "coyote3": LevelLimits(peak=201, ramp_per_s=10, step=5),
            "coyote2": LevelLimits(peak=2047, ramp_per_s=10, step=5),
            "zap9": LevelLimits(peak=5, ramp_per_s=1, step=1),
        }
    )
    assert limits.level_problems() == [
        LimitProblem(
            "levels.coyote3.peak",
            "above_hard_cap",
            "201 levels is above the hard cap 200 for coyote3 (the device's full range)",
        ),
        LimitProblem(
            "levels.zap9",
            "unknown_level_driver",
            "no level driver is called 'zap9'; known level drivers: coyote2, coyote3",
        ),
    ]
    assert sorted(HARD_CAPS.level_peak) == ["coyote2", "coyote3"]


def test_level_limits_at_the_caps_have_no_problem() -> None:
    at_cap = Limits(levels={"coyote3": LevelLimits(peak=200, ramp_per_s=50, step=20)})
    assert at_cap.level_problems() == []
