"""Registration: lazy (no gymnasium on ``import saferl``), idempotent, correct spaces."""

from __future__ import annotations

import subprocess
import sys

import pytest

from saferl.envs import ENV_IDS, register_envs
from saferl.envs.torcs import ACTION_NAMES, OBSERVATION_NAMES


def test_importing_saferl_does_not_import_gymnasium() -> None:
    code = (
        "import sys, saferl, saferl.envs, saferl.envs.torcs; "
        "from saferl.envs.torcs import OBSERVATION_NAMES; "
        "print('gymnasium' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_register_envs_is_idempotent() -> None:
    gymnasium = pytest.importorskip("gymnasium")
    assert register_envs() == list(ENV_IDS)
    assert register_envs() == list(ENV_IDS)
    for env_id, entry_point in ENV_IDS.items():
        assert gymnasium.spec(env_id).entry_point == entry_point


def test_observation_and_action_names() -> None:
    assert OBSERVATION_NAMES[:6] == ("angle", "trackPos", "speedX", "speedY", "speedZ", "rpm")
    assert OBSERVATION_NAMES[6:10] == tuple(f"wheelSpinVel{i}" for i in range(4))
    assert OBSERVATION_NAMES[10:] == tuple(f"track{i}" for i in range(19))
    assert ACTION_NAMES == ("steer", "accel", "brake")


def test_unknown_attribute_is_an_attribute_error() -> None:
    import saferl.envs.torcs as torcs

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        torcs.Nope  # noqa: B018
