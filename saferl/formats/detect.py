"""Tell what a policy file is from its contents (and, for text, its name), reading nothing else.

Formats: ``pol`` (a .pol program), ``saferl-model`` (a directory with ``manifest.json``),
``sb3`` (a stable-baselines3 zip: ``data`` + ``policy.pth``), ``onnx``, ``skops`` (a
scikit-learn estimator in skops' format), and two that saferl refuses: ``torchscript``
and ``torch-pickle`` (both need code execution or unpickling to read).
"""

from __future__ import annotations

from pathlib import Path

from saferl.errors import Location, ModelFileError

__all__ = ["FORMATS", "detect_format"]

FORMATS = ("pol", "saferl-model", "sb3", "onnx", "skops", "torchscript", "torch-pickle")

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
_HINT = "pass a .pol file, a saferl model directory, an SB3 .zip, an .onnx MLP or a .skops tree"


def _zip_format(path: Path) -> str:
    import zipfile  # only for archives (it imports shutil and the compressors)

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelFileError(f"unreadable zip archive ({exc})", Location(str(path)), hint=_HINT) from None
    members = set(names)
    if "data" in members and "policy.pth" in members:
        return "sb3"
    if "schema.json" in members:
        return "skops"
    tails = {name.split("/", 1)[1] if "/" in name else name for name in names}
    if "constants.pkl" in tails or any(t.startswith("code/") for t in tails):
        return "torchscript"
    if "data.pkl" in tails:
        return "torch-pickle"
    raise ModelFileError("a zip archive saferl does not recognise", Location(str(path)), hint=_HINT)


def detect_format(path: str | Path) -> str:
    """One of :data:`FORMATS`; ModelFileError (exit 2) for anything else.

    Example:
        >>> detect_format("oracles/cartpole-ppo")        # doctest: +SKIP
        'saferl-model'
    """
    from saferl.userfile import user_path_kind

    p = Path(path)
    where = str(p)
    # never opens a FIFO or a device (it could block) nor trips on a too-long name
    if user_path_kind(p, "policy file", ModelFileError, hint=_HINT) == "dir":
        if (p / "manifest.json").is_file():
            return "saferl-model"
        raise ModelFileError("directory is not a saferl model (no manifest.json)", Location(where), hint=_HINT)
    try:
        with p.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise ModelFileError(f"cannot read the file ({exc.strerror})", Location(where)) from None
    if head.startswith(_ZIP_MAGIC):
        return _zip_format(p)
    if head[:2] in _PICKLE_MAGIC:
        return "torch-pickle"
    if p.suffix.lower() == ".skops":  # never read as .pol text or anything else
        raise ModelFileError("not a skops file (not a zip archive)", Location(where), hint=_HINT)
    if p.suffix.lower() == ".onnx":
        return "onnx"
    if p.suffix.lower() == ".pol":
        return "pol"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # a multi-byte character cut by the 4096-byte read is fine
                return _binary(p, head)
        return "pol"
    return _binary(p, head)


def _binary(p: Path, head: bytes) -> str:
    # An ONNX ModelProto starts with field 1 (ir_version, a varint): tag byte 0x08.
    if head[:1] == b"\x08":
        return "onnx"
    raise ModelFileError("binary data saferl does not recognise as a policy", Location(str(p)), hint=_HINT)
