"""[tool.saferl]: groups, options, and every mistake pointing at its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from saferl.check.config import GroupOptions, find_config, load_config, parse_config
from saferl.errors import InputError


def test_groups_and_inherited_options(project: Path) -> None:
    config = load_config(project / "pyproject.toml")
    assert config.root == project.resolve()
    assert [g.name for g in config.groups] == ["cartpole", "mountaincar"]
    cart, car = config.groups
    assert cart.options == GroupOptions(timeout_s=20.0)
    assert car.options == GroupOptions(timeout_s=20.0, cross_check=True)
    assert cart.line == 7 and car.line == 12
    assert find_config(project / "policies" / "cartpole") == project / "pyproject.toml"


def test_saferl_toml_has_top_level_keys_and_wins(project: Path) -> None:
    (project / "saferl.toml").write_text(
        'cache-dir = "cache"\njobs = 3\n\n[[groups]]\npolicies = ["policies/**/*.pol"]\nspecs = ["specs/cartpole/pole_follow.yaml"]\n'
    )
    assert find_config(project) == project / "saferl.toml"
    config = load_config(project / "saferl.toml")
    assert config.cache_dir == project.resolve() / "cache" and config.jobs == 3
    assert config.groups[0].name == "group-1"


CASES = [
    ("[tool.saferl]\ntimeout = 5\ncolour = true\n", 3, "unknown key 'colour'"),
    (
        '[tool.saferl]\n\n[[tool.saferl.groups]]\nname = "a"\npolicies = ["policies/cartpole/*.pol"]\n'
        'specs = ["specs/cartpole/pole_follow.yaml"]\n\n[[tool.saferl.groups]]\nname = "b"\n'
        'policies = ["policies/cartpole/*.pol"]\nspecs = ["specs/cartpole/pole_follow.yaml"]\ntimout = 3\n',
        12,
        "unknown key 'timout' in group",
    ),
    (
        '[tool.saferl]\n[[tool.saferl.groups]]\npolicies = [\n  "policies/cartpole/*.pol",\n  "policies/nothing/*.pol",\n]\n'
        'specs = ["specs/cartpole/pole_follow.yaml"]\n',
        5,
        "policy glob 'policies/nothing/*.pol' matches nothing",
    ),
    (
        '[tool.saferl]\n[[tool.saferl.groups]]\npolicies = ["policies/cartpole/*.pol"]\nspecs = ["specs/missing.yaml"]\n',
        4,
        "spec file 'specs/missing.yaml' does not exist",
    ),
    ('[tool.saferl]\ntimeout = "ten"\n', 2, "'timeout' must be a positive number"),
    ("[tool.saferl]\ncross-check = 1\n", 2, "'cross-check' must be true or false"),
    ('[tool.saferl]\nsolver = "yices"\n', 2, "'solver' must be one of z3, cvc5"),
    ("[tool.saferl]\njobs = 0\n", 2, "'jobs' must be a positive integer"),
    ("[tool.saferl]\ntimeout = = 3\n", 2, "invalid TOML"),
    ('[tool.saferl]\n[[tool.saferl.groups]]\nname = "x"\nspecs = ["specs/cartpole/pole_follow.yaml"]\n', 2, "has no 'policies'"),
]


@pytest.mark.parametrize(("text", "line", "message"), CASES)
def test_mistakes_name_the_line(project: Path, text: str, line: int, message: str) -> None:
    path = project / "pyproject.toml"
    with pytest.raises(InputError) as info:
        parse_config(text, path)
    assert info.value.location is not None and info.value.location.line == line, str(info.value)
    assert message in str(info.value)
    assert str(info.value).startswith(f"{path}:{line}")


def test_cli_reports_a_config_mistake_in_one_line(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (project / "pyproject.toml").write_text(
        '[tool.saferl]\n[[tool.saferl.groups]]\npolicies = ["policies/cartpole/*.pol"]\nspecs = ["specs/gone.yaml"]\n'
    )
    code, out, err = cli("check")
    assert code == 2 and out == ""
    assert err == f"saferl check: error: {project / 'pyproject.toml'}:4: spec file 'specs/gone.yaml' does not exist\n"


def test_no_configuration_is_one_line(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("check")
    assert code == 2 and out == "" and err.count("\n") == 1 and "no configuration" in err
