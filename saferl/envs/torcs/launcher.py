"""Find the TORCS installation, write race configurations, run ``torcs -r`` headless.

``torcs-robot/install.sh`` installs Debian's TORCS and builds the ``saferl_scr`` robot
into a private folder, described by its ``torcs.env`` file.  :class:`TorcsRace` starts
one headless race (``torcs-bin ... -r race.xml``) whose cars are driven by SCR clients,
on free loopback ports, and always cleans up: ``stop()`` kills the process group, an
``atexit`` hook stops races still running at exit, and the kernel kills TORCS if the
Python process dies (``PR_SET_PDEATHSIG``); the robot itself exits after a silent spell.

Example:
    inst = find_installation()
    with TorcsRace(inst, track="g-track-2", laps=1) as race:
        ...  # connect an ScrClient to race.ports[0]
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from saferl.envs.torcs.errors import TorcsError, TorcsNotInstalledError
from saferl.envs.torcs.tracks import find_track

__all__ = [
    "TorcsInstallation",
    "TorcsRace",
    "find_installation",
    "free_udp_port",
    "race_xml",
]

INSTALL_HINT = "run: bash torcs-robot/install.sh (from a saferl checkout, as root)"
_ROBOT = "saferl_scr"


@dataclass(frozen=True)
class TorcsInstallation:
    """Paths of a TORCS installation with the saferl_scr robot built."""

    torcs_bin: Path
    libdir: Path
    datadir: Path
    system_libdir: Path
    driver_xml: Path


def _candidate_homes() -> list[Path]:
    homes = []
    env = os.environ.get("SAFERL_TORCS_HOME")
    if env:
        homes.append(Path(env))
    homes.append(Path(__file__).resolve().parents[3] / "torcs-robot" / "build")
    homes.append(Path.home() / ".cache" / "saferl" / "torcs")
    return homes


def find_installation() -> TorcsInstallation:
    """The first complete installation among ``$SAFERL_TORCS_HOME``, the checkout's
    ``torcs-robot/build`` and ``~/.cache/saferl/torcs``.

    Raises :class:`TorcsNotInstalledError` naming what is missing.
    """
    problems = []
    for home in _candidate_homes():
        manifest = home / "torcs.env"
        if not manifest.is_file():
            problems.append(f"{manifest} not found")
            continue
        values = {}
        for line in manifest.read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip()
        try:
            inst = TorcsInstallation(
                torcs_bin=Path(values["TORCS_BIN"]),
                libdir=Path(values["TORCS_LIBDIR"]),
                datadir=Path(values["TORCS_DATADIR"]),
                system_libdir=Path(values["TORCS_SYSTEM_LIBDIR"]),
                driver_xml=Path(values["SAFERL_SCR_DRIVER_XML"]),
            )
        except KeyError as exc:
            problems.append(f"{manifest} lacks {exc.args[0]}")
            continue
        so = inst.libdir / "drivers" / _ROBOT / f"{_ROBOT}.so"
        for path, what in (
            (inst.torcs_bin, "torcs-bin (Debian package torcs)"),
            (so, "the saferl_scr robot"),
            (inst.datadir / "tracks", "the tracks (Debian package torcs-data)"),
            (inst.driver_xml, "the robot's driver description"),
        ):
            if not path.exists():
                problems.append(f"{what} missing at {path}")
                break
        else:
            return inst
    raise TorcsNotInstalledError(
        "real TORCS is not installed for saferl (" + "; ".join(problems) + f"); {INSTALL_HINT}"
    )


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port on ``host`` that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def race_xml(track: str, category: str, laps: int, cars: int = 1) -> str:
    """A TORCS race configuration: ``cars`` saferl_scr drivers (indices 0..cars-1),
    ``laps`` laps on ``category/track``, results only (no display)."""
    drivers = "\n".join(
        f'    <section name="{i + 1}"><attnum name="idx" val="{i}"/>'
        f'<attstr name="module" val="{_ROBOT}"/></section>'
        for i in range(cars)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE params SYSTEM "params.dtd">
<params name="saferl" type="param" mode="mw">
  <section name="Header">
    <attstr name="name" val="saferl"/>
    <attstr name="description" val="saferl headless race"/>
    <attnum name="priority" val="10"/>
  </section>
  <section name="Tracks">
    <attnum name="maximum number" val="1"/>
    <section name="1">
      <attstr name="name" val={quoteattr(track)}/>
      <attstr name="category" val={quoteattr(category)}/>
    </section>
  </section>
  <section name="Races">
    <section name="1"><attstr name="name" val="Quick Race"/></section>
  </section>
  <section name="Quick Race">
    <attnum name="distance" val="0"/>
    <attstr name="type" val="race"/>
    <attstr name="starting order" val="drivers list"/>
    <attstr name="restart" val="yes"/>
    <attnum name="laps" val="{int(laps)}"/>
    <attstr name="display mode" val="results only"/>
  </section>
  <section name="Drivers">
    <attnum name="maximum number" val="40"/>
    <attnum name="focused idx" val="0"/>
{drivers}
  </section>
</params>
"""


_LIVE: weakref.WeakSet[TorcsRace] = weakref.WeakSet()
_WORKDIR_PREFIX = "saferl-torcs-"


def _sweep_stale_workdirs() -> None:
    """Remove working folders left by processes that were killed (no atexit ran)."""
    now = time.time()
    for path in Path(tempfile.gettempdir()).glob(_WORKDIR_PREFIX + "*"):
        try:
            age = now - path.stat().st_mtime
            owner = int((path / "owner").read_text(encoding="ascii"))
        except (OSError, ValueError):
            owner = -1
        if age < 60.0 or (owner <= 0 and age < 86400.0):
            continue  # being set up, or of unknown owner and recent
        if owner > 0:
            try:
                os.kill(owner, 0)
                continue  # still running
            except ProcessLookupError:
                pass
            except PermissionError:
                continue  # someone else's, alive
        shutil.rmtree(path, ignore_errors=True)


def _stop_all() -> None:
    for race in list(_LIVE):
        race.close()


atexit.register(_stop_all)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class TorcsRace:
    """One headless TORCS race driven by SCR clients.

    ``start()`` writes the configuration into a private working folder and launches
    TORCS; ``ports[i]`` is where car ``i`` (robot index ``i``) waits for its client.
    ``stop()`` kills TORCS (idempotent); ``close()`` also removes the working folder.
    """

    def __init__(
        self,
        installation: TorcsInstallation,
        track: str = "g-track-2",
        laps: int = 1,
        cars: int = 1,
        port: int | None = None,
        robot_timeout_s: float = 30.0,
    ) -> None:
        self.installation = installation
        self.track = find_track(track, installation.datadir)
        self.laps = laps
        self.cars = cars
        self.requested_port = port
        self.robot_timeout_s = robot_timeout_s
        self.ports: list[int] = []
        self.process: subprocess.Popen[bytes] | None = None
        _sweep_stale_workdirs()
        self.workdir = Path(tempfile.mkdtemp(prefix=_WORKDIR_PREFIX))
        (self.workdir / "owner").write_text(str(os.getpid()), encoding="ascii")
        _LIVE.add(self)
        self._prepare_workdir()

    def _prepare_workdir(self) -> None:
        local = self.workdir / "local"
        (local / "config").mkdir(parents=True)
        (local / "drivers" / _ROBOT).mkdir(parents=True)
        shutil.copyfile(
            self.installation.datadir / "config" / "raceengine.xml",
            local / "config" / "raceengine.xml",
        )
        shutil.copyfile(self.installation.driver_xml, local / "drivers" / _ROBOT / f"{_ROBOT}.xml")
        (self.workdir / "race.xml").write_text(
            race_xml(self.track.name, self.track.category, self.laps, self.cars), encoding="utf-8"
        )

    @property
    def log_path(self) -> Path:
        """Where TORCS's console output goes."""
        return self.workdir / "torcs.log"

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of TORCS's output, for error messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip())

    def start(self) -> None:
        """Launch TORCS (stopping a previous run of this race first)."""
        self.stop()
        shutil.rmtree(self.workdir / "local" / "results", ignore_errors=True)
        base = self.requested_port if self.requested_port is not None else free_udp_port()
        self.ports = [base + i for i in range(self.cars)]
        inst = self.installation
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = str(inst.system_libdir / "lib") + (
            ":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else ""
        )
        env["SAFERL_SCR_PORT"] = str(base)
        env["SAFERL_SCR_TIMEOUT"] = str(self.robot_timeout_s)
        args = [
            str(inst.torcs_bin),
            "-l", f"{self.workdir / 'local'}/",
            "-L", f"{inst.libdir}/",
            "-D", f"{inst.datadir}/",
            "-r", str(self.workdir / "race.xml"),
        ]  # fmt: skip
        with open(self.log_path, "wb") as log:
            try:
                self.process = subprocess.Popen(
                    args,
                    cwd=inst.datadir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            except OSError as exc:
                raise TorcsError(f"cannot start TORCS ({args[0]}): {exc.strerror}") from None

    def alive(self) -> bool:
        """True while the TORCS process runs."""
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        """The TORCS process id (None before start)."""
        return self.process.pid if self.process is not None else None

    def stop(self) -> None:
        """Kill TORCS and reap it (idempotent)."""
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover - kernel trouble
                proc.kill()
                proc.wait()
        self.process = None

    def wait(self, timeout_s: float) -> int | None:
        """Wait up to ``timeout_s`` for TORCS to exit; its return code, or None."""
        if self.process is None:
            return None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                return code
            time.sleep(0.005)
        return None

    def close(self) -> None:
        """Stop TORCS and delete the working folder."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
        _LIVE.discard(self)

    def __enter__(self) -> TorcsRace:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # best effort; close() is the real API
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
