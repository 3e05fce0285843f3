"""The method registry: objectives and estimators by method name.

Each objective module registers its class with :func:`register_objective`; each
estimator class registers itself (through its ``objective`` class argument, see
:class:`skdamerge._estimators.DomainAdaptationClassifier`). The command line,
``skdamerge reproduce`` and the reports look methods up here, never by class.
"""

from __future__ import annotations

__all__ = [
    "estimator_class",
    "method_names",
    "objective_class",
    "register_estimator",
    "register_objective",
    "unregister_method",
]

_OBJECTIVES: dict[str, type] = {}
_ESTIMATORS: dict[str, type] = {}


def register_objective(cls: type) -> type:
    """Register an objective class under its ``name`` (a class decorator)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no registry name.")
    registered = _OBJECTIVES.get(cls.name)
    if registered is not None and registered is not cls:
        raise ValueError(
            f"Method name {cls.name!r} is taken by {registered.__name__}; "
            f"give {cls.__name__} another name."
        )
    _OBJECTIVES[cls.name] = cls
    return cls


def register_estimator(name: str, cls: type) -> None:
    """Register the estimator class of the method ``name``."""
    registered = _ESTIMATORS.get(name)
    if registered is not None and registered.__qualname__ != cls.__qualname__:
        raise ValueError(
            f"Method {name!r} already has the estimator {registered.__name__}."
        )
    _ESTIMATORS[name] = cls


def method_names() -> tuple[str, ...]:
    """Names of the methods with an estimator, in registration order."""
    return tuple(name for name in _OBJECTIVES if name in _ESTIMATORS)


def _lookup(table: dict[str, type], name: str) -> type:
    try:
        return table[name]
    except KeyError:
        known = ", ".join(repr(known) for known in method_names())
        raise ValueError(
            f"Unknown method {name!r}; the registered methods are {known}."
        ) from None


def objective_class(name: str) -> type:
    """Objective class of the method ``name`` (ValueError listing the known ones)."""
    return _lookup(_OBJECTIVES, name)


def estimator_class(name: str) -> type:
    """Estimator class of the method ``name`` (ValueError listing the known ones)."""
    return _lookup(_ESTIMATORS, name)


def unregister_method(name: str) -> None:
    """Remove the method ``name`` from the registry (for tests and plugins)."""
    _OBJECTIVES.pop(name, None)
    _ESTIMATORS.pop(name, None)
