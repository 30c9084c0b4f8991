"""cnncalc: what does this convolutional network cost?

Shapes, parameters, MACs/FLOPs, memory and receptive fields of a network described in a YAML spec
or given as a PyTorch module, computed analytically and cross-checked against the real model.

    >>> import cnncalc
    >>> cnncalc.analyze("specs/resnet50.yaml").totals["macs"]
    4089184256

The functions are documented in docs/api.md.  Importing cnncalc is light: nothing heavy (torch, rich,
yaml) is imported until a function that needs it is called.
"""
from __future__ import annotations

import importlib
import sys
import types

try:
    from importlib.metadata import PackageNotFoundError, version as _version
    __version__ = _version("cnncalc")
except PackageNotFoundError:   # a source checkout that was never installed
    __version__ = "0.1.0"

_API = ("analyze", "memory", "explain", "check", "verify", "Report", "Layer", "SpecError")
# `check` and `verify` are also the names of subpackages (the homework checker, the cross-check):
# once imported, those would hide the functions.  So these two subpackages are made callable: calling
# `cnncalc.check(...)` calls `cnncalc.api.check(...)`, and `cnncalc.check.checker` is still the module.
_CALLABLE_PACKAGES = ("check", "verify")

__all__ = [*_API, "__version__"]


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):
        api = importlib.import_module(f"{__name__}.api")
        return getattr(api, self.__name__.rpartition(".")[2])(*args, **kwargs)


class _Package(types.ModuleType):
    def __setattr__(self, name, value):
        if name in _CALLABLE_PACKAGES and type(value) is types.ModuleType:
            value.__class__ = _CallablePackage
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name):   # PEP 562: the API is imported on first use, so `import cnncalc` stays light
    if name in _CALLABLE_PACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _API:
        api = importlib.import_module(f"{__name__}.api")
        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API))
