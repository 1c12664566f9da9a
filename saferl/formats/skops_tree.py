"""Read a fitted scikit-learn decision tree saved with skops, without trusting the file.

Before skops builds anything, every type named in the archive's ``schema.json`` is checked
against a short allow-list (the two tree estimators, ``sklearn.tree._tree.Tree``, numpy
arrays, dtypes and scalars, and JSON builtins); a file naming anything else is refused
with the names.  Only then is :func:`skops.io.load` called, trusting exactly the types it
reports as untrusted, all of which are on that list.  Pickle is never used.

The tree becomes .pol text with :func:`saferl.extract.viper.tree_from_sklearn`: its
thresholds are scikit-learn's float64 values, written so that they parse back exactly;
scikit-learn casts inputs to float32 and tests ``x <= threshold`` in double, which is
what the .pol evaluator (and the verifier) do with ``float32`` observations.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from saferl.errors import Location, MissingDependencyError, ModelFileError
from saferl.formats.names import PolicyNames

__all__ = ["ALLOWED_TYPES", "load_skops_tree", "skops_tree_text"]

_ESTIMATORS = {"sklearn.tree._classes.DecisionTreeClassifier", "sklearn.tree._classes.DecisionTreeRegressor"}
_BUILTINS = {"dict", "list", "tuple", "str", "int", "float", "bool", "NoneType"}
_NUMPY = {"ndarray", "dtype", "float64", "float32", "int64", "int32", "intp", "uint8", "bool_", "str_"}
ALLOWED_TYPES = frozenset(
    _ESTIMATORS
    | {"sklearn.tree._tree.Tree"}
    | {f"builtins.{n}" for n in _BUILTINS}
    | {f"numpy.{n}" for n in _NUMPY}
)
_MAX_SCHEMA_BYTES = 64 * 1024 * 1024
_HINT = "save a fitted DecisionTreeClassifier or DecisionTreeRegressor with skops.io.dump"


def _fail(message: str, path: str) -> ModelFileError:
    return ModelFileError(message, Location(path), hint=_HINT)


def _types(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        if "__class__" in node and "__module__" in node:
            found.add(f"{node['__module__']}.{node['__class__']}")
        for value in node.values():
            _types(value, found)
    elif isinstance(node, list):
        for value in node:
            _types(value, found)


def _schema_types(path: Path) -> tuple[str, set[str]]:
    where = str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("schema.json")
            if info.file_size > _MAX_SCHEMA_BYTES:
                raise _fail("schema.json is too large", where)
            schema = json.loads(archive.read(info).decode("utf-8"))
    except KeyError:
        raise _fail("not a skops file (no schema.json)", where) from None
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, json.JSONDecodeError, RuntimeError) as exc:
        raise _fail(f"not a readable skops file ({type(exc).__name__})", where) from None
    if not isinstance(schema, dict):
        raise _fail("schema.json is not an object", where)
    found: set[str] = set()
    _types(schema, found)
    root = f"{schema.get('__module__')}.{schema.get('__class__')}"
    return root, found


def _load_estimator(path: Path) -> Any:
    where = str(path)
    root, found = _schema_types(path)
    refused = sorted(found - ALLOWED_TYPES)
    if refused:
        raise _fail(f"refused: the file names types beyond a scikit-learn tree: {', '.join(refused[:5])}", where)
    if root not in _ESTIMATORS:
        raise _fail(f"the file holds a {root}, not a decision tree", where)
    try:
        import skops.io as sio
    except ImportError:
        raise MissingDependencyError("skops", "learn") from None
    try:
        untrusted = sio.get_untrusted_types(file=str(path))
        if set(untrusted) - ALLOWED_TYPES:  # skops sees more than schema.json showed us
            raise _fail(f"refused: untrusted types {', '.join(sorted(set(untrusted) - ALLOWED_TYPES)[:5])}", where)
        model = sio.load(str(path), trusted=list(untrusted))
    except ModelFileError:
        raise
    except Exception as exc:  # skops raises many types on malformed files
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise _fail(f"skops cannot load the file ({first})", where) from None
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    if not isinstance(model, DecisionTreeClassifier | DecisionTreeRegressor) or not hasattr(model, "tree_"):
        raise _fail("the file does not hold a fitted decision tree", where)
    if int(getattr(model, "n_outputs_", 1)) != 1:
        raise _fail("a tree with several outputs; saferl's policies have one action", where)
    return model


def skops_tree_text(
    path: str | Path, names: PolicyNames | None = None, env_id: str | None = None, name: str | None = None
) -> str:
    """The .pol text of the tree in a skops file.

    Classifier classes are integers ``0..k-1`` (action indices; labels from ``names`` or the
    environment, else ``a0..``) or identifiers (the labels themselves, indexed in the order
    of ``names.labels`` when given, else in the tree's class order).  A regressor's action
    range is the user's, else the environment's, else the span of its leaf values.

    Example:
        >>> print(skops_tree_text("tree.skops", PolicyNames(obs=("x", "v"))))   # doctest: +SKIP
    """
    from saferl.extract.programs import PolHeader
    from saferl.extract.viper import tree_from_sklearn

    p = Path(path)
    where = str(p)
    names = names or PolicyNames()
    model = _load_estimator(p)
    n_obs = int(model.n_features_in_)
    obs_names = names.obs_for(n_obs, env_id)
    action_name = names.action_for(env_id)
    if action_name in obs_names:
        raise _fail(f"the action name {action_name!r} is also an observation name", where)
    policy_name = name or (p.stem if p.stem.isidentifier() else "imported_tree")
    bounds: tuple[Any, ...] = ()
    if env_id is not None:
        from saferl.learn.envs import env_signature

        sig = env_signature(env_id)
        bounds = sig.obs_bounds if len(sig.obs_bounds) == n_obs else ()
    comment = f"scikit-learn {type(model).__name__} imported from {p.name} (skops)"
    classes = getattr(model, "classes_", None)
    if classes is not None:
        classes = np.asarray(classes)
        if classes.dtype.kind in "iu" or (classes.dtype.kind == "f" and np.all(classes == np.round(classes))):
            values = [int(c) for c in classes.tolist()]
            if min(values) < 0:
                raise _fail("negative class values cannot be action indices", where)
            n = max(max(values) + 1, 2)
            if names.labels is not None:
                n = max(n, len(names.labels))
            elif env_id is not None:
                from saferl.learn.envs import env_signature

                n = max(n, len(env_signature(env_id).action_labels or ()))
            labels = names.labels_for(n, env_id)
            index = {c: float(int(c)) for c in classes.tolist()}
        else:
            texts = [str(c) for c in classes.tolist()]
            given = names.labels if names.labels is not None else PolicyNames.from_options(labels=",".join(texts)).labels
            labels = tuple(given or ())
            missing = [t for t in texts if t not in labels]
            if missing:
                raise _fail(f"class {missing[0]!r} is not among the labels {', '.join(labels)}", where)
            if len(labels) < 2:
                labels = (*labels, "unused")
            index = {c: float(labels.index(str(c))) for c in classes.tolist()}
        header = PolHeader(policy_name, obs_names, action_name, labels=tuple(labels), comment=comment, obs_bounds=bounds)
        # tree_from_sklearn reads leaf classes from model.classes_; give it action indices
        proxy = _Indexed(model, np.array([index[c] for c in classes.tolist()]))
        return str(tree_from_sklearn(proxy, header).to_pol())
    leaves = model.tree_.value[model.tree_.children_left == -1][:, 0, 0]
    rng = names.range_for(env_id)
    if rng is None:
        lo, hi = float(np.min(leaves)), float(np.max(leaves))
        rng = (lo, hi) if lo < hi else (lo - 1.0, hi + 1.0)
    if np.any(leaves < rng[0]) or np.any(leaves > rng[1]):
        raise _fail(f"leaf values fall outside the action range [{rng[0]}, {rng[1]}]", where)
    header = PolHeader(policy_name, obs_names, action_name, low=rng[0], high=rng[1], comment=comment, obs_bounds=bounds)
    return str(tree_from_sklearn(model, header).to_pol())


class _Indexed:
    """A view of a classifier whose ``classes_`` are action indices."""

    def __init__(self, model: Any, classes: np.ndarray):
        self.tree_ = model.tree_
        self.classes_ = classes


def load_skops_tree(path: str | Path, names: PolicyNames | None = None, env_id: str | None = None) -> Any:
    """The tree in a skops file as a parsed .pol program (:class:`saferl.policy.ast.Program`)."""
    from saferl.policy import parse_policy

    return parse_policy(skops_tree_text(path, names, env_id), f"{path} (as .pol)")
