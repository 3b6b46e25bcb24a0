"""Calibrators: scikit-learn classifiers over a model's scores.

Each method lives in its own private module; :data:`CALIBRATORS` maps the short
name used by the CLI and the report to the class, and :func:`register` adds a
calibrator written outside the package.  Everything else the CLI, the report
and :mod:`calibrate.io` need is read from class attributes (see
:class:`BaseCalibrator`): ``_supported_tasks``, ``_output_space``,
``_report_default_tasks``, ``_help``, ``_fitted_parameters`` and
``_parameter_shapes()``.
"""

import re

from calibrate.calibrators._base import BaseCalibrator
from calibrate.calibrators._beta import BetaCalibration
from calibrate.calibrators._dirichlet import DirichletCalibration
from calibrate.calibrators._ets import EnsembleTemperatureScaling
from calibrate.calibrators._histogram import HistogramBinning
from calibrate.calibrators._isotonic import IsotonicCalibration
from calibrate.calibrators._matrix import MatrixScaling
from calibrate.calibrators._platt import PlattScaling
from calibrate.calibrators._scaling_binning import ScalingBinning
from calibrate.calibrators._temperature import TemperatureScaling
from calibrate.calibrators._vector import VectorScaling

__all__ = [
    "CALIBRATORS",
    "BaseCalibrator",
    "BetaCalibration",
    "DirichletCalibration",
    "EnsembleTemperatureScaling",
    "HistogramBinning",
    "IsotonicCalibration",
    "MatrixScaling",
    "PlattScaling",
    "ScalingBinning",
    "TemperatureScaling",
    "VectorScaling",
    "default_methods",
    "register",
    "registered_name",
    "unregister",
]

#: Short name -> calibrator class; the CLI, the report and :mod:`calibrate.io`
#: read this registry.
CALIBRATORS = {
    "temperature": TemperatureScaling,
    "vector": VectorScaling,
    "matrix": MatrixScaling,
    "platt": PlattScaling,
    "dirichlet": DirichletCalibration,
    "ets": EnsembleTemperatureScaling,
    "isotonic": IsotonicCalibration,
    "histogram": HistogramBinning,
    "beta": BetaCalibration,
    "scaling_binning": ScalingBinning,
}

_TASKS = ("binary", "multiclass", "multilabel")
# A name is typed on the command line and in comma lists: no commas, spaces.
_NAME = re.compile(r"[a-z][a-z0-9_-]*\Z")
# Names the package reserves: AutoCalibration and CalibratedClassifier take
# "auto" as a method name.
_RESERVED = ("auto",)


def register(name, cls, *, replace=False):
    """Add a calibrator class to the registry under a short name.

    The class then works everywhere a built-in method does, with no other
    change: :func:`calibrate.io.save_calibrator` / ``load_calibrator`` (the
    file stores ``name`` as its ``"method"``), ``calibrate fit --method NAME``,
    ``apply``, ``evaluate --model``, ``plot --model`` and ``report --methods
    NAME`` (the command line reads the registry when it runs), and the
    report's default methods for the tasks in ``cls._report_default_tasks``.

    Parameters
    ----------
    name : str
        Short name: lower-case letters, digits, ``_`` and ``-``, starting with
        a letter.
    cls : type
        A subclass of :class:`BaseCalibrator` implementing ``_fit`` and
        exactly one of ``_calibrated_logits`` or ``_calibrated_log_proba``,
        whose constructor can be called with no arguments and takes
        ``input_type``.
    replace : bool, default=False
        Whether a name already registered may be rebound.

    Returns
    -------
    type
        ``cls``, so that ``register`` can be used as ``register("x", X)``
        after a class definition.

    Raises
    ------
    TypeError
        If ``cls`` is not a calibrator class, or its class attributes are of
        the wrong kind.
    ValueError
        If ``name`` is malformed, reserved, or taken and ``replace`` is false,
        or a task named by the class is unknown.

    Examples
    --------
    >>> from calibrate.calibrators import (
    ...     CALIBRATORS, TemperatureScaling, register, unregister)
    >>> class Halved(TemperatureScaling):
    ...     _help = "temperature scaling, registered under a second name"
    >>> _ = register("halved", Halved)
    >>> CALIBRATORS["halved"] is Halved
    True
    >>> unregister("halved") is Halved
    True
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"a calibrator name is lower-case letters, digits, '_' and '-', "
            f"starting with a letter; got {name!r}."
        )
    if name in _RESERVED:
        raise ValueError(f"the name {name!r} is reserved; choose another.")
    if not (isinstance(cls, type) and issubclass(cls, BaseCalibrator)):
        raise TypeError(
            f"only subclasses of calibrate.calibrators.BaseCalibrator can be "
            f"registered; got {cls!r}."
        )
    if cls._output_space is None:
        raise TypeError(
            f"{cls.__name__} implements neither _calibrated_logits (logit space) "
            "nor _calibrated_log_proba (probability space)."
        )
    if getattr(cls, "__abstractmethods__", None):
        raise TypeError(
            f"{cls.__name__} does not implement "
            f"{', '.join(sorted(cls.__abstractmethods__))}."
        )
    for attr in ("_supported_tasks", "_report_default_tasks"):
        tasks = getattr(cls, attr)
        if not isinstance(tasks, tuple):
            raise TypeError(
                f"{cls.__name__}.{attr} must be a tuple of task names; got {tasks!r}."
            )
        unknown = [t for t in tasks if t not in _TASKS]
        if unknown:
            raise ValueError(
                f"{cls.__name__}.{attr} names unknown tasks {unknown!r}; tasks are "
                f"{', '.join(_TASKS)}."
            )
    extra = set(cls._report_default_tasks) - set(cls._supported_tasks)
    if extra:
        raise ValueError(
            f"{cls.__name__}._report_default_tasks lists {sorted(extra)!r}, which "
            f"are not among its _supported_tasks {cls._supported_tasks!r}."
        )
    if not isinstance(cls._help, str):
        raise TypeError(f"{cls.__name__}._help must be a string; got {cls._help!r}.")
    if name in CALIBRATORS and not replace:
        raise ValueError(
            f"a calibrator is already registered as {name!r} "
            f"({CALIBRATORS[name].__name__}); pass replace=True to rebind it."
        )
    CALIBRATORS[name] = cls
    return cls


def unregister(name):
    """Remove ``name`` from the registry and return its class.

    Parameters
    ----------
    name : str
        A registered name.

    Returns
    -------
    type
        The class that was registered.

    Raises
    ------
    KeyError
        If ``name`` is not registered.
    """
    if name not in CALIBRATORS:
        raise KeyError(
            f"no calibrator is registered as {name!r}; registered: "
            f"{', '.join(CALIBRATORS)}."
        )
    return CALIBRATORS.pop(name)


def default_methods(task):
    """Return the registered names the report fits for ``task`` by default.

    Parameters
    ----------
    task : {"binary", "multiclass", "multilabel"}
        The task of the data.

    Returns
    -------
    tuple of str
        In registry order, the names whose class lists ``task`` in
        ``_report_default_tasks``.

    Examples
    --------
    >>> from calibrate.calibrators import default_methods
    >>> default_methods("multiclass")
    ('temperature', 'vector', 'matrix')
    >>> default_methods("binary")
    ('temperature', 'platt')
    """
    return tuple(
        name for name, cls in CALIBRATORS.items() if task in cls._report_default_tasks
    )


def registered_name(calibrator):
    """Return the registry name of ``calibrator``'s class, or None."""
    cls = calibrator if isinstance(calibrator, type) else type(calibrator)
    return next((name for name, c in CALIBRATORS.items() if c is cls), None)
