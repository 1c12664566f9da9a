"""The Ray backend against a real Ray: a head started here on the loopback address.

Skipped only when ray is not importable (it is the optional ``ray`` extra; ``make test``
installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray")

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    """``ray start --head --block`` on 127.0.0.1; yields its address and stops only that process tree."""
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="rayt", dir="/tmp")  # short: Ray's unix sockets live under it
    env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    ray_cli = Path(sys.executable).parent / "ray"
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
         "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if head.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the Ray head did not start")
                time.sleep(0.5)
        time.sleep(2)  # GCS accepts connections a moment before the raylet registers
        yield f"127.0.0.1:{port}"
    finally:
        head.send_signal(signal.SIGTERM)  # --block stops the processes it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(temp, ignore_errors=True)


def _comparable(out: str) -> dict:
    doc = json.loads(out)
    for rec in doc["results"]:
        for p in rec["properties"]:
            p["solver_time_s"] = 0
    return {(r["policy"], r["spec"]): r for r in doc["results"]}


def test_same_verdicts_and_counterexamples_as_the_process_pool(
    project: Path, cli, ray_head: str, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    code_pool, pool, _ = cli("check", "--no-cache", "--jobs", "2", "-f", "json")
    code_ray, on_ray, err = cli("check", "--no-cache", "--backend", "ray", "--ray-address", ray_head, "-f", "json")
    assert code_pool == code_ray == 1, err
    assert _comparable(on_ray) == _comparable(pool)
    assert len(_comparable(pool)) == 4
    # the cache is shared between backends: what Ray verified, the pool reads back
    cli("check", "--backend", "ray", "--ray-address", ray_head)
    code, out, _ = cli("check", "-f", "json")
    assert code == 1 and all(r["cached"] for r in json.loads(out)["results"])


def test_ray_address_from_the_environment(project: Path, cli, ray_head: str, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("RAY_ADDRESS", ray_head)
    code, out, err = cli("check", "policies/cartpole/near_optimal.pol", "--no-cache", "--backend", "ray", "-f", "json")
    assert code == 0, err
    assert [r["verdict"] for r in json.loads(out)["results"]] == ["SAFE"]


def test_an_address_that_does_not_answer_is_one_line(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    cli("check")  # warm: the address is checked even when no pair needs Ray
    code, out, err = cli("check", "--backend", "ray", "--ray-address", f"127.0.0.1:{_free_port()}")
    assert code == 2 and out == ""
    assert err.startswith("saferl check: error: the Ray cluster at 127.0.0.1:") and err.count("\n") == 1
    code, _, err = cli("check", "--backend", "ray", "--ray-address", "no-port-here")
    assert code == 2 and "is not HOST:PORT" in err
