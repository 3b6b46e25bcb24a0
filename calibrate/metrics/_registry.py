"""The registry of metrics: every metric the CLI, the report and the tests run.

Each :class:`Metric` states what it is (label, unit, range, direction, tasks,
options, whether the report shows it) and how it combines over blocks of
rows (``combine``), so that :func:`calibrate.metrics.evaluate`, the report,
its bootstrap and the command line read these facts instead of keeping
copies of them.  A new metric is one function and one entry given to
:func:`register_metric`.
"""

from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import numpy as np

from calibrate.metrics._calibration_error import expected_calibration_error
from calibrate.metrics._ks import ks_calibration_error
from calibrate.metrics._scores import (
    accuracy,
    brier_score,
    brier_terms,
    classification_error,
    negative_log_likelihood,
    nll_terms,
    right_terms,
    wrong_terms,
)
from calibrate.metrics._smooth import smooth_calibration_error, smooth_replicates

__all__ = ["COMBINE", "DIRECTIONS", "METRICS", "Metric", "register_metric"]

#: How a metric combines over blocks of rows (see :attr:`Metric.combine`).
COMBINE = ("mean", "binned", "whole")
#: Whether lower or higher values are better.
DIRECTIONS = ("lower", "higher")
_TASKS = frozenset({"binary", "multiclass", "multilabel"})
_ALL_TASKS = _TASKS
_ONE_LABEL = frozenset({"binary", "multiclass"})
_BINNING = frozenset({"n_bins", "strategy"})
_OPTIONS = _BINNING


@dataclass(frozen=True)
class Metric:
    """One entry of :data:`METRICS`: a metric and the facts about it.

    Attributes
    ----------
    name : str
        Short name, the key in :data:`METRICS` (used on the command line and
        as a column of the report).
    function : callable
        ``function(y_true, y_prob, *, sample_weight=None, input_type="probs",
        **options) -> float`` on the whole input.
    options : frozenset of str
        The keyword options ``function`` takes beyond those, among
        ``{"n_bins", "strategy"}``: both for the binned errors, none for the
        proper scores.
    tasks : frozenset of str
        The tasks it is defined for, among ``"binary"``, ``"multiclass"`` and
        ``"multilabel"``.
    description : str
        One line for tables, ``--help`` and the report's JSON.
    label : str
        Name for people (report tables and figures); the ``name`` when empty.
    percent : bool
        Whether the value is a fraction shown as a percent (accuracy, the
        calibration errors) or shown as it is (NLL in nats, Brier score).
    range : tuple of float
        ``(low, high)``: the values the metric can take (``np.inf`` when
        unbounded); the report cuts its intervals there.
    direction : {"lower", "higher"}
        Which values are better.
    combine : {"mean", "binned", "whole"}
        How it is computed over blocks of rows (chunks of a large file,
        bootstrap resamples).  ``"mean"``: the weighted mean of per-row
        terms, ``terms(pred)`` of a :class:`~calibrate.metrics._predictions.
        Predictions`.  ``"binned"``: a binned calibration error, from the
        per-bin statistics of the blocks merged (``binned`` says which).
        ``"whole"``: anything else (a median, a rank statistic), computed by
        ``function`` on the whole input at once and never averaged over
        blocks; the report's bootstrap recomputes it on each resample.
    report : bool
        Whether :func:`calibrate.report.build_report` shows it by default.
    terms : callable or None
        For ``combine="mean"``: ``terms(pred) -> ndarray (n,)``, the per-row
        terms whose weighted mean is the metric.
    binned : tuple of (str, object) pairs
        For ``combine="binned"``: the keyword arguments ``reduction``,
        ``norm`` and ``debias`` that make the metric
        ``binned_calibration_error(calibration_bins(..., reduction=reduction),
        norm=norm, debias=debias)``; ``reduction=None`` is the task's default
        (top-label, classwise for multilabel data).  Empty for the others.
    resampled : callable or None
        For ``combine="whole"``: ``resampled(pred) -> replicates``, with
        ``pred`` the :class:`~calibrate.metrics._predictions.Predictions` of
        the whole input and ``replicates(counts)`` the metric with each row
        of ``counts`` (``(n_block, n)``, the counts of bootstrap resamples)
        as ``sample_weight``, all rows at once.  None: the report's bootstrap
        recomputes the metric on each resample.
    """

    name: str
    function: Callable
    options: frozenset = frozenset()
    tasks: frozenset = _TASKS
    description: str = ""
    label: str = ""
    percent: bool = False
    range: tuple = (0.0, np.inf)
    direction: str = "lower"
    combine: str = "whole"
    report: bool = False
    terms: Callable = field(default=None, compare=False)
    binned: tuple = ()
    resampled: Callable = field(default=None, compare=False)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(
                f"a metric's name must be an identifier (letters, digits, '_'); "
                f"got {self.name!r}."
            )
        if not callable(self.function):
            raise TypeError(
                f"metric {self.name!r}: function must be callable; got "
                f"{type(self.function).__name__}."
            )
        object.__setattr__(self, "options", frozenset(self.options))
        object.__setattr__(self, "tasks", frozenset(self.tasks))
        if not self.options <= _OPTIONS:
            raise ValueError(
                f"metric {self.name!r}: options must be among {sorted(_OPTIONS)}; "
                f"got {sorted(self.options)}."
            )
        if not self.tasks or not self.tasks <= _TASKS:
            raise ValueError(
                f"metric {self.name!r}: tasks must be a non-empty subset of "
                f"{sorted(_TASKS)}; got {sorted(self.tasks)}."
            )
        if self.combine not in COMBINE:
            raise ValueError(
                f"metric {self.name!r}: combine must be one of {COMBINE}; got "
                f"{self.combine!r}."
            )
        if self.direction not in DIRECTIONS:
            raise ValueError(
                f"metric {self.name!r}: direction must be one of {DIRECTIONS}; got "
                f"{self.direction!r}."
            )
        low, high = (float(v) for v in self.range)
        if not low < high:
            raise ValueError(
                f"metric {self.name!r}: range must be (low, high) with low < high; "
                f"got {self.range!r}."
            )
        object.__setattr__(self, "range", (low, high))
        if self.combine == "mean" and not callable(self.terms):
            raise ValueError(
                f"metric {self.name!r}: combine='mean' needs terms(pred), the "
                "per-row terms whose weighted mean is the metric."
            )
        if self.combine == "binned" and set(dict(self.binned)) != {
            "reduction",
            "norm",
            "debias",
        }:
            raise ValueError(
                f"metric {self.name!r}: combine='binned' needs binned=(('reduction', "
                f"...), ('norm', ...), ('debias', ...)); got {self.binned!r}."
            )
        if self.resampled is not None and (
            self.combine != "whole" or not callable(self.resampled)
        ):
            raise ValueError(
                f"metric {self.name!r}: resampled must be None or a callable, and "
                f"only for combine='whole'; got {self.resampled!r} with "
                f"combine={self.combine!r}."
            )
        if not self.label:
            object.__setattr__(self, "label", self.name)

    @property
    def needs(self):
        """The former name of :attr:`options` (kept for old callers)."""
        return self.options

    @property
    def higher_is_better(self):
        """Whether higher values are better (``direction == "higher"``)."""
        return self.direction == "higher"

    def __call__(
        self, y_true, y_prob, *, sample_weight=None, input_type="probs", **options
    ):
        """Call :attr:`function`; ``options`` must be among :attr:`options`.

        The options fixed by the entry (``reduction`` of ``ece_classwise``, for
        example) cannot be overridden through the registry.
        """
        unknown = set(options) - self.options
        if unknown:
            raise TypeError(
                f"metric {self.name!r} takes the options {sorted(self.options)}; "
                f"got {sorted(unknown)}."
            )
        return self.function(
            y_true,
            y_prob,
            sample_weight=sample_weight,
            input_type=input_type,
            **options,
        )


def register_metric(metric, *, replace=False):
    """Add ``metric`` to :data:`METRICS`, so that every consumer runs it.

    It then appears in :func:`calibrate.metrics.evaluate`, ``calibrate
    evaluate`` and, with ``report=True``, in the report with a bootstrap
    interval.

    Parameters
    ----------
    metric : Metric
        The entry.
    replace : bool, default=False
        Whether an entry of the same name may be replaced.

    Returns
    -------
    Metric
        ``metric``.

    Raises
    ------
    TypeError
        If ``metric`` is not a :class:`Metric`.
    ValueError
        If a metric of that name exists and ``replace`` is False.
    """
    if not isinstance(metric, Metric):
        raise TypeError(f"metric must be a Metric; got {type(metric).__name__}.")
    if metric.name in METRICS and not replace:
        raise ValueError(
            f"a metric named {metric.name!r} is already registered; pass "
            "replace=True to replace it."
        )
    METRICS[metric.name] = metric
    return metric


def _binned(
    name,
    tasks,
    description,
    label,
    *,
    reduction="top_label",
    norm="l1",
    debias=False,
    report=True,
):
    """Return a binned error: :func:`expected_calibration_error` with fixed options."""
    options = {"reduction": reduction, "norm": norm, "debias": debias}
    return Metric(
        name,
        partial(expected_calibration_error, **options),
        options=_BINNING,
        tasks=tasks,
        description=description,
        label=label,
        percent=True,
        range=(0.0, 1.0),
        combine="binned",
        report=report,
        binned=tuple(options.items()),
    )


# The order is the report's column order: accuracy first, the proper scores,
# then the binned errors.
METRICS = {
    m.name: m
    for m in (
        Metric(
            "accuracy",
            accuracy,
            description="share of right predictions, 1 - classification error",
            label="Accuracy",
            percent=True,
            range=(0.0, 1.0),
            direction="higher",
            combine="mean",
            report=True,
            terms=right_terms,
        ),
        Metric(
            "nll",
            negative_log_likelihood,
            description="negative log-likelihood (log loss), nats",
            label="NLL",
            range=(0.0, np.inf),
            combine="mean",
            report=True,
            terms=nll_terms,
        ),
        Metric(
            "brier",
            brier_score,
            description="Brier score (scikit-learn's brier_score_loss)",
            label="Brier score",
            # At most 2, both mistakes certain (multiclass).
            range=(0.0, 2.0),
            combine="mean",
            report=True,
            terms=brier_terms,
        ),
        _binned(
            "ece",
            _ALL_TASKS,
            "expected calibration error, top-label, L1 (Guo et al. 2017); "
            "classwise for multilabel data",
            "ECE",
            reduction=None,
        ),
        _binned(
            "ece_classwise",
            _ALL_TASKS,
            "classwise ECE, mean over classes (Kull et al. 2019)",
            "Classwise ECE",
            reduction="classwise",
        ),
        _binned(
            "mce",
            _ONE_LABEL,
            "maximum calibration error over non-empty bins, top-label",
            "MCE",
            norm="max",
        ),
        _binned(
            "ece_l2_debiased",
            _ONE_LABEL,
            "RMS calibration error, top-label, debiased (Kumar et al. 2019)",
            "Debiased L2 error",
            norm="l2",
            debias=True,
        ),
        _binned(
            "ece_positive",
            frozenset({"binary"}),
            "ECE of the positive-class probability (binary)",
            "ECE (positive class)",
            reduction="positive",
            report=False,
        ),
        _binned(
            "ece_top_label_conditional",
            _ONE_LABEL,
            "top-label ECE conditioned on the predicted class (Gupta & Ramdas 2022)",
            "TL-ECE",
            reduction="top_label_conditional",
        ),
        _binned(
            "mce_top_label_conditional",
            _ONE_LABEL,
            "top-label MCE conditioned on the predicted class: over bins, the "
            "largest class-weighted gap (Gupta & Ramdas 2022)",
            "TL-MCE",
            reduction="top_label_conditional",
            norm="max",
            report=False,
        ),
        Metric(
            "smooth_ece",
            smooth_calibration_error,
            tasks=_ONE_LABEL,
            description="smooth ECE, top-label, reflected Gaussian kernel at the "
            "fixed-point bandwidth (Blasiok & Nakkiran 2024)",
            label="Smooth ECE",
            percent=True,
            range=(0.0, 1.0),
            combine="whole",
            report=True,
            resampled=smooth_replicates,
        ),
        Metric(
            "ks",
            ks_calibration_error,
            tasks=_ONE_LABEL,
            description="Kolmogorov-Smirnov calibration error, top-label "
            "(Gupta et al. 2021)",
            label="KS error (top-label)",
            percent=True,
            range=(0.0, 1.0),
            combine="whole",
        ),
        Metric(
            "ks_classwise",
            partial(ks_calibration_error, reduction="classwise"),
            description="Kolmogorov-Smirnov calibration error, mean over classes "
            "(Gupta et al. 2021)",
            label="Classwise KS error",
            percent=True,
            range=(0.0, 1.0),
            combine="whole",
        ),
        Metric(
            "classification_error",
            classification_error,
            description="share of wrong predictions, 1 - accuracy",
            label="Classification error",
            percent=True,
            range=(0.0, 1.0),
            combine="mean",
            terms=wrong_terms,
        ),
    )
}


def report_metrics():
    """Names of the metrics the report shows by default, in registry order."""
    return tuple(name for name, m in METRICS.items() if m.report)
