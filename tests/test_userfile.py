"""The one reader of user files: regular files only, a size limit, JSON nesting limit."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from saferl.errors import InputError, ModelFileError
from saferl.limits import MAX_DATA_DEPTH
from saferl.userfile import check_directory, parse_user_json, read_user_text, user_path_kind


def test_size_limit_is_checked_before_reading(tmp_path: Path) -> None:
    p = tmp_path / "big.txt"
    p.write_bytes(b"x" * 101)
    with pytest.raises(InputError) as info:
        read_user_text(p, "text file", max_bytes=100)
    assert str(info.value) == f"{p}: text file is larger than 100 bytes (limit max_file_bytes)"
    assert read_user_text(p, "text file", max_bytes=101) == "x" * 101


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_special_files_are_never_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(InputError, match="not a regular file"):
            read_user_text(path, "spec file")
        with pytest.raises(InputError, match="not a regular file"):
            user_path_kind(path, "policy file")
    assert user_path_kind(tmp_path, "policy file") == "dir"
    with pytest.raises(InputError, match="file name too long"):
        user_path_kind("x" * 5000, "policy file")
    with pytest.raises(InputError, match="invalid file name"):
        read_user_text("a\x00b", "policy file")


def test_check_directory(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    check_directory(tmp_path, "model directory")
    with pytest.raises(ModelFileError) as info:
        check_directory(tmp_path / "f", "model directory", ModelFileError, hint="h")
    assert str(info.value) == f"{tmp_path / 'f'}: not a directory, cannot be a model directory (hint: h)"
    with pytest.raises(ModelFileError, match="model directory not found"):
        check_directory(tmp_path / "nope", "model directory", ModelFileError)


def test_json_nesting_limit() -> None:
    assert parse_user_json('{"a": "[[[[[[", "b": [[1]]}', "m.json", "manifest") == {"a": "[[[[[[", "b": [[1]]}
    ok = "[" * MAX_DATA_DEPTH + "]" * MAX_DATA_DEPTH
    assert parse_user_json(ok, "m.json", "manifest") is not None
    for deep in ("[" * (MAX_DATA_DEPTH + 1) + "]" * (MAX_DATA_DEPTH + 1), "[" * 100_000, '{"a":' * 100_000):
        with pytest.raises(ModelFileError) as info:
            parse_user_json(deep, "m.json", "manifest", ModelFileError)
        assert str(info.value) == "m.json: manifest: lists and objects nested deeper than 64 levels (limit max_data_depth)"
    with pytest.raises(InputError, match=r"^m.json:1:2: manifest is not valid JSON: Expecting"):
        parse_user_json("{x", "m.json", "manifest")
    with pytest.raises(InputError, match="manifest is not valid JSON: Exceeds the limit"):
        parse_user_json("[" + "9" * 5000 + "]", "m.json", "manifest")


def test_a_deep_manifest_is_one_line_through_the_cli(tmp_path: Path, root: Path) -> None:
    import io

    from saferl.cli import run

    model = tmp_path / "m"
    shutil.copytree(root / "oracles/cartpole-ppo", model)
    manifest = json.loads((model / "manifest.json").read_text())
    (model / "manifest.json").write_text(json.dumps(manifest)[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    out, err = io.StringIO(), io.StringIO()
    code = run(["eval", str(model), "--env", "CartPole-v1", "-n", "1", "--max-steps", "2"], out, err)
    assert code == 2
    assert err.getvalue() == (
        f"saferl eval: error: {model / 'manifest.json'}: manifest: lists and objects nested deeper than 64 levels "
        "(limit max_data_depth)\n"
    )
