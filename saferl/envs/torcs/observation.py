"""PROPEL's TORCS observation and action: names, scales, and the automatic gearbox.

The observation is 29 numbers, each an SCR sensor divided by a fixed scale:
angle/pi, trackPos, speedX/Y/Z / 300 (km/h), rpm / 10000, wheelSpinVel[4] / 100 (rad/s),
track[19] / 200 (m).  The action is steer in [-1, 1] (+ = left), accel and brake in
[0, 1]; the gear is chosen from the speed, as PROPEL's environment (gym_torcs) did.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from saferl.envs.torcs.errors import ScrProtocolError

__all__ = [
    "ACTION_HIGH",
    "ACTION_LOW",
    "ACTION_NAMES",
    "OBSERVATION_NAMES",
    "OBSERVATION_SCALES",
    "auto_gear",
    "normalise_sensors",
]

OBSERVATION_NAMES: tuple[str, ...] = (
    ("angle", "trackPos", "speedX", "speedY", "speedZ", "rpm")
    + tuple(f"wheelSpinVel{i}" for i in range(4))
    + tuple(f"track{i}" for i in range(19))
)
ACTION_NAMES: tuple[str, ...] = ("steer", "accel", "brake")
ACTION_LOW = (-1.0, 0.0, 0.0)
ACTION_HIGH = (1.0, 1.0, 1.0)

#: Each observation is the SCR sensor divided by this.
OBSERVATION_SCALES: tuple[float, ...] = (
    (math.pi, 1.0, 300.0, 300.0, 300.0, 10000.0) + (100.0,) * 4 + (200.0,) * 19
)

_GEAR_SPEEDS = (50.0, 80.0, 110.0, 140.0, 170.0)


def auto_gear(speed_kmh: float) -> int:
    """The gear for a forward speed in km/h (1..6; thresholds 50, 80, 110, 140, 170)."""
    gear = 1
    for threshold in _GEAR_SPEEDS:
        if speed_kmh > threshold:
            gear += 1
    return gear


def normalise_sensors(sensors: Mapping[str, float | Sequence[float]]) -> list[float]:
    """The 29 normalised values, in :data:`OBSERVATION_NAMES` order, from SCR sensors."""
    spin = sensors["wheelSpinVel"]
    track = sensors["track"]
    if not isinstance(spin, Sequence) or len(spin) != 4:
        raise ScrProtocolError("SCR sensor wheelSpinVel must have 4 values")
    if not isinstance(track, Sequence) or len(track) != 19:
        raise ScrProtocolError("SCR sensor track must have 19 values")
    values = [
        float(sensors["angle"]) / math.pi,  # type: ignore[arg-type]
        float(sensors["trackPos"]),  # type: ignore[arg-type]
        float(sensors["speedX"]) / 300.0,  # type: ignore[arg-type]
        float(sensors["speedY"]) / 300.0,  # type: ignore[arg-type]
        float(sensors["speedZ"]) / 300.0,  # type: ignore[arg-type]
        float(sensors["rpm"]) / 10000.0,  # type: ignore[arg-type]
    ]
    values.extend(float(v) / 100.0 for v in spin)
    values.extend(float(v) / 200.0 for v in track)
    return values
