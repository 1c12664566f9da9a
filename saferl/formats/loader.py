"""``load_policy_file``: one entry point for every policy file a command is given.

Example:
    >>> from saferl.formats import load_policy_file
    >>> policy = load_policy_file("oracles/cartpole-ppo")                     # doctest: +SKIP
    >>> policy = load_policy_file("ppo.zip", env_id="CartPole-v1")            # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from saferl.errors import InputError, Location, ModelFileError
from saferl.formats.detect import detect_format
from saferl.formats.names import PolicyNames

__all__ = [
    "KINDS", "LoadedPolicy", "kind_of", "load_neural_model", "load_policy_file", "load_program", "load_program_source",
]

#: what a format gives: a control program (.pol, skops trees) or a neural network
KINDS = ("program", "neural")
_KIND = {"pol": "program", "skops": "program", "saferl-model": "neural", "sb3": "neural", "onnx": "neural"}

_TORCHSCRIPT = (
    "TorchScript cannot be read without executing code (its modules are Python code and "
    "pickled constants); saferl never runs a model file"
)
_TORCH_PICKLE = "a torch.save pickle; saferl never unpickles model files"
_EXPORT_HINT = "export the network to ONNX (torch.onnx.export) or save its weights with safetensors"

LoadedPolicy = Any
"""A policy with ``act(obs)``: a :class:`~saferl.policy.ProgramPolicy` or a
:class:`~saferl.learn.model.NeuralPolicy`."""


def kind_of(path: str | Path) -> str:
    """``program`` or ``neural`` for a readable policy file; ModelFileError otherwise."""
    fmt = detect_format(path)
    _refuse_unreadable(fmt, str(path))
    return _KIND[fmt]


def _refuse_unreadable(fmt: str, where: str) -> None:
    if fmt == "torchscript":
        raise ModelFileError(_TORCHSCRIPT, Location(where), hint=_EXPORT_HINT)
    if fmt == "torch-pickle":
        raise ModelFileError(_TORCH_PICKLE, Location(where), hint=_EXPORT_HINT)


def _with_names(policy: Any, names: PolicyNames, env_id: str | None) -> Any:
    """A neural policy renamed by the user (names only; the network is unchanged)."""
    if names == PolicyNames():
        return policy
    from saferl.learn.model import policy_from_parts

    manifest = dict(policy.manifest)
    obs = dict(manifest["observation"])
    obs["names"] = list(names.obs_for(len(obs["names"]), env_id))
    action = dict(manifest["action"])
    if names.action is not None:
        action["name"] = names.action
    if action["kind"] == "discrete" and names.labels is not None:
        action["labels"] = list(names.labels_for(len(action["labels"]), env_id))
    manifest.update(observation=obs, action=action)
    return policy_from_parts(manifest, policy.tensors)


def load_neural_model(path: str | Path, env_id: str | None = None, names: PolicyNames | None = None) -> Any:
    """A :class:`~saferl.learn.model.NeuralPolicy` from a model directory, SB3 zip or ONNX file."""
    where = str(path)
    fmt = detect_format(path)
    _refuse_unreadable(fmt, where)
    names = names or PolicyNames()
    if _KIND[fmt] != "neural":
        raise InputError(
            f"{where} is a {'.pol program' if fmt == 'pol' else 'decision tree'}, not a neural network",
            hint="this option takes a model directory, an SB3 .zip or an .onnx file",
        )
    try:
        if fmt == "saferl-model":
            from saferl.learn.model import load_model

            return _with_names(load_model(path), names, env_id)
        if fmt == "sb3":
            from saferl.learn.sb3 import load_sb3_zip

            return _with_names(load_sb3_zip(path, env_id), names, env_id)
    except ImportError as exc:
        from saferl.errors import MissingDependencyError

        if isinstance(exc, MissingDependencyError):
            raise
        raise MissingDependencyError(exc.name or "torch", "learn") from None
    from saferl.formats.onnx_mlp import load_onnx_mlp

    return load_onnx_mlp(path, env_id, names)


def load_policy_file(
    path: str | Path,
    *,
    env_id: str | None = None,
    names: PolicyNames | None = None,
    accept: Collection[str] = KINDS,
) -> LoadedPolicy:
    """Load any policy file as an object with ``act(obs)``.

    ``.pol`` programs and skops trees become a :class:`~saferl.policy.ProgramPolicy`; model
    directories, SB3 zips and ONNX MLPs a :class:`~saferl.learn.model.NeuralPolicy`.
    ``env_id`` and ``names`` name what the file leaves unnamed (SB3, ONNX, skops).
    ``accept`` lists the kinds (``program``, ``neural``) the caller can use; another kind
    is an InputError that says what the file is.  Nothing is unpickled or executed.
    """
    where = str(path)
    fmt = detect_format(path)
    _refuse_unreadable(fmt, where)
    kind = _KIND[fmt]
    if kind not in accept:
        what = {"pol": "a .pol program", "skops": "a scikit-learn tree"}.get(fmt, f"a neural network ({fmt})")
        wanted = " or ".join("a .pol program or tree" if k == "program" else "a neural network" for k in accept)
        raise InputError(f"{where} is {what}; this needs {wanted}")
    if kind == "neural":
        return load_neural_model(path, env_id, names)
    from saferl.policy import ProgramPolicy, load_policy
    from saferl.policy.ast import Program

    if fmt == "skops":
        from saferl.formats.skops_tree import load_skops_tree

        program = load_skops_tree(path, names, env_id)
    else:
        program = load_policy(path)
    if not isinstance(program, Program):
        raise InputError(f"{where} is a gridworld subgoal program; run it with 'saferl certify'")
    return ProgramPolicy(program)




_NAMES_HINT = (
    "pass --names FILE (YAML with obs, action, labels: the file 'saferl import' reads) "
    "or --obs-names, --action-name and --labels"
)


def _needs_program(where: str, fmt: str) -> InputError:
    return InputError(
        f"{where} is a neural network ({fmt}); this needs a .pol program or a .skops tree",
        hint=f"extract one first: saferl extract --oracle {where} --env ENV -o tree.pol",
    )


def load_program(
    path: str | Path, *, env_id: str | None = None, names: PolicyNames | None = None,
    require_names: bool = False,
) -> Any:
    """The program in a policy file: a .pol file as :func:`saferl.policy.load_policy` reads it
    (control or gridworld program), or a skops tree converted exactly as ``saferl import``
    does.  A neural network is an InputError that says how to get a program from it.

    ``require_names``: a skops tree carries no names, so without ``env_id`` the user must
    give the observation and action names (a spec refers to them); otherwise InputError.
    """
    where = str(path)
    fmt = detect_format(path)
    _refuse_unreadable(fmt, where)
    if _KIND[fmt] == "neural":
        raise _needs_program(where, fmt)
    if fmt == "skops":
        names = names or PolicyNames()
        if require_names and env_id is None and (names.obs is None or names.action is None):
            missing = " and ".join(w for w, v in (("observation", names.obs), ("action", names.action)) if v is None)
            raise InputError(f"{where} is a scikit-learn tree and carries no {missing} names", hint=_NAMES_HINT)
        from saferl.formats.skops_tree import load_skops_tree

        return load_skops_tree(path, names, env_id)
    from saferl.policy import load_policy

    return load_policy(path)


def load_program_source(
    path: str | Path, *, env_id: str | None = None, names: PolicyNames | None = None
) -> tuple[str, Any]:
    """The .pol text of a program file and its parse: a .pol file as written (comments kept)
    or a skops tree printed as .pol.  A neural network is an InputError that says how to get
    a program from it.
    """
    where = str(path)
    fmt = detect_format(path)
    _refuse_unreadable(fmt, where)
    if _KIND[fmt] == "neural":
        raise _needs_program(where, fmt)
    from saferl.policy import parse_policy, read_policy_text

    if fmt == "skops":
        from saferl.formats.skops_tree import skops_tree_text

        text = skops_tree_text(path, names, env_id)
        return text, parse_policy(text, where)
    text = read_policy_text(path)
    return text, parse_policy(text, where)
