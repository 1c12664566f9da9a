"""A crash is never a verdict: every command, under an injected internal exception, exits 2
with one line on stderr; the traceback only with ``--debug`` or ``SAFERL_DEBUG=1``."""

from __future__ import annotations

import importlib
import io
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import pytest

import saferl.cli
from saferl.cli import COMMANDS, run

ROOT = Path(__file__).resolve().parents[2]
POLICY = str(ROOT / "policies/cartpole/near_optimal.pol")
SPEC = str(ROOT / "specs/cartpole/pole_follow.yaml")
LINE = "saferl: internal error: RuntimeError: injected (rerun with --debug or SAFERL_DEBUG=1 for the traceback)\n"


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return run(list(argv), out, err), out.getvalue(), err.getvalue()


def _raise(*_: Any, **__: Any) -> NoReturn:
    raise RuntimeError("injected")


@pytest.fixture(autouse=True)
def _no_debug_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAFERL_DEBUG", raising=False)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_crash_in_any_command_module_exits_2_with_one_line(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.import_module(COMMANDS[name][0])
    monkeypatch.setattr(module, "run", _raise)
    code, out, err = cli(name, "anything")
    assert (code, out, err) == (2, "", LINE)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_crash_inside_a_commands_app_is_not_swallowed_nor_misread(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exception passes through the command's own handler (run_app) to the root."""
    module = importlib.import_module(COMMANDS[name][0])
    if not hasattr(module, "app"):
        pytest.skip(f"{name} has no typer app")
    monkeypatch.setattr(module, "app", _raise)
    code, _, err = cli(name, "--whatever")
    assert code == 2
    assert err == LINE


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_debug_flag_and_variable_show_the_traceback(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.import_module(COMMANDS[name][0])
    monkeypatch.setattr(module, "run", _raise)
    code, _, err = cli("--debug", name, "x")
    assert code == 2
    assert err.startswith("Traceback (most recent call last):") and err.endswith(LINE)
    assert "RuntimeError: injected" in err
    monkeypatch.setenv("SAFERL_DEBUG", "1")
    code, _, err = cli(name, "x")
    assert code == 2 and err.startswith("Traceback") and err.endswith(LINE)
    monkeypatch.setenv("SAFERL_DEBUG", "0")
    assert cli(name, "x")[2] == LINE


def test_a_crash_deep_in_verify_is_exit_2_not_unsafe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("saferl.spec.load.parse_spec", _raise)
    code, out, err = cli("verify", POLICY, "--spec", SPEC)
    assert code == 2
    assert err == LINE
    assert "Traceback" not in err


def test_a_crash_deep_in_the_parser_is_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("saferl.policy.parser.parse_program", _raise)
    monkeypatch.setattr("saferl.policy.parse_program", _raise)
    assert cli("verify", POLICY, "--spec", SPEC)[::2] == (2, LINE)
    assert cli("eval", POLICY, "--env", "CartPole-v1", "-n", "1")[::2] == (2, LINE)


@pytest.mark.parametrize(
    ("exc", "code", "err"),
    [
        (KeyboardInterrupt(), 130, None),
        (BrokenPipeError(32, "Broken pipe"), 2, ""),
        (SystemExit(1), 2, "saferl: internal error: SystemExit: 1 (rerun with --debug or SAFERL_DEBUG=1 for the traceback)\n"),
        (SystemExit(0), 0, ""),
        (RecursionError("maximum recursion depth exceeded"), 2,
         "saferl: internal error: RecursionError: maximum recursion depth exceeded "
         "(rerun with --debug or SAFERL_DEBUG=1 for the traceback)\n"),
        (ValueError("two\nlines"), 2,
         "saferl: internal error: ValueError: two lines (rerun with --debug or SAFERL_DEBUG=1 for the traceback)\n"),
    ],
)
def test_interrupts_pipes_and_stray_exits(exc: BaseException, code: int, err: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: Any) -> NoReturn:
        raise exc

    monkeypatch.setattr(importlib.import_module("saferl.cli.verify"), "run", boom)
    got_code, _, got_err = cli("verify")
    assert got_code == code
    if err is None:
        assert len(got_err.splitlines()) == 1 and "interrupted" in got_err
    else:
        assert got_err == err


def test_a_command_that_returns_no_exit_code_is_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.import_module("saferl.cli.verify"), "run", lambda *a: None)
    code, _, err = cli("verify")
    assert code == 2 and err.startswith("saferl: internal error: TypeError: command 'verify' returned None")


def test_debug_after_the_command_and_not_after_double_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def record(argv: list[str], out: Any, err: Any) -> int:
        seen.append(argv)
        return 0

    monkeypatch.setattr(importlib.import_module("saferl.cli.verify"), "run", record)
    assert cli("verify", "--debug", "a", "--", "--debug")[0] == 0
    assert seen == [["a", "--", "--debug"]]


def test_help_mentions_debug() -> None:
    assert "--debug (or SAFERL_DEBUG=1)" in cli("--help")[1]


def test_a_closed_stdout_ends_quietly() -> None:
    """``saferl --help | head -0``: no traceback, no 'Exception ignored' at shutdown."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from saferl.cli import main; main()", "--help"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) in (0, 2)
    assert "Traceback" not in err and "Exception ignored" not in err


def test_refuted_is_the_only_exit_1() -> None:
    """Exit 1 means UNSAFE / refuted; bad input is 2 (a sample over the commands)."""
    assert cli("verify", "no-such.pol", "--spec", SPEC)[0] == 2
    assert cli("verify", POLICY, "--spec", "no-such.yaml")[0] == 2
    assert cli("nonsense")[0] == 2
    assert cli("eval", "no-such.pol", "--env", "CartPole-v1")[0] == 2
    assert saferl.cli.EXIT_UNSAFE == 1
