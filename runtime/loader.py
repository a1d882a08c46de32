"""Load the user's model from its entrypoint and call it with the contract's types.

`module:Class` is instantiated once (load weights in `__init__`) and its `predict(inputs)` is called per
request; `module:function` is called per request. Either takes and returns `dict[str, numpy.ndarray]`.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from runtime.errors import LoadError, ModelError
from runtime.manifest import Manifest

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]


class Model:
    """A loaded model: `predict` runs it and checks that it answered a dict of numpy arrays."""

    def __init__(self, manifest: Manifest, predict: Callable[[Arrays], Any]) -> None:
        self.manifest = manifest
        self._predict = predict

    def predict(self, inputs: Arrays) -> Arrays:
        """Run the model; raise ModelError if it raises or answers something else than a dict of arrays."""
        try:
            outputs = self._predict(inputs)
        except (Exception, SystemExit) as exc:
            log.error("model %s raised during predict", self.manifest.entrypoint, exc_info=True)
            raise ModelError(f"the model raised {_describe(exc)}") from exc
        return _as_arrays(outputs)


def load_model(manifest: Manifest, model_dir: Path) -> Model:
    """Import the entrypoint with `model_dir` first on sys.path; instantiate it once if it is a class."""
    directory = str(model_dir.resolve())
    if directory in sys.path:
        sys.path.remove(directory)
    sys.path.insert(0, directory)
    importlib.invalidate_caches()

    module = _import(manifest.module, Path(directory))
    target = getattr(module, manifest.attr, None)
    if target is None:
        raise LoadError(
            f"entrypoint {manifest.entrypoint}: module {manifest.module!r} has no {manifest.attr!r}"
        )
    if isinstance(target, type):
        try:
            instance = target()
        except (Exception, SystemExit) as exc:
            log.error("instantiating %s failed", manifest.entrypoint, exc_info=True)
            raise LoadError(
                f"entrypoint {manifest.entrypoint}: {manifest.attr}() raised {_describe(exc)}"
            ) from exc
        predict = getattr(instance, "predict", None)
        if not callable(predict):
            raise LoadError(
                f"entrypoint {manifest.entrypoint}: class {manifest.attr} has no predict(inputs) method"
            )
        return Model(manifest, predict)
    if callable(target):
        return Model(manifest, target)
    raise LoadError(
        f"entrypoint {manifest.entrypoint}: {manifest.attr} is a {type(target).__name__}, "
        "expected a class or a function"
    )


def _import(name: str, model_dir: Path) -> Any:
    top = name.partition(".")[0]
    already = sys.modules.get(top)
    if already is not None and not _inside(getattr(already, "__file__", None), model_dir):
        raise LoadError(
            f"entrypoint module {name!r} clashes with the already imported module {top!r} "
            f"({getattr(already, '__file__', None) or 'built in'}); rename the model's module"
        )
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            raise LoadError(f"cannot import module {name!r}: it is not in {str(model_dir)!r}") from None
        log.error("importing %s failed", name, exc_info=True)
        raise LoadError(f"importing module {name!r} raised {_describe(exc)}") from exc
    except (Exception, SystemExit) as exc:
        log.error("importing %s failed", name, exc_info=True)
        raise LoadError(f"importing module {name!r} raised {_describe(exc)}") from exc


def _inside(file: str | None, directory: Path) -> bool:
    return file is not None and Path(file).resolve().is_relative_to(directory)


def _as_arrays(outputs: Any) -> Arrays:
    if not isinstance(outputs, Mapping):
        raise ModelError(
            f"the model returned {type(outputs).__name__}, expected a dict of output names to numpy arrays"
        )
    for name, value in outputs.items():
        if not isinstance(name, str):
            raise ModelError(f"the model returned the output name {name!r}, expected a string")
        if not isinstance(value, np.ndarray):
            raise ModelError(
                f"the model returned output {name!r} as {type(value).__name__}, expected a numpy array"
            )
    return dict(outputs)


def _describe(exc: BaseException) -> str:
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
