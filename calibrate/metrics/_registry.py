"""The registry of metrics: every metric the CLI, the report and the tests run."""

from dataclasses import dataclass
from functools import partial
from typing import Callable

from calibrate.metrics._calibration_error import expected_calibration_error
from calibrate.metrics._scores import (
    brier_score,
    classification_error,
    negative_log_likelihood,
)

__all__ = ["METRICS", "Metric"]

_ALL_TASKS = frozenset({"binary", "multiclass", "multilabel"})
_ONE_LABEL = frozenset({"binary", "multiclass"})
_BINNING = frozenset({"n_bins", "strategy"})


@dataclass(frozen=True)
class Metric:
    """One entry of :data:`METRICS`.

    Attributes
    ----------
    name : str
        Short name, the key in :data:`METRICS` (used on the command line and
        as a column of the report).
    function : callable
        ``function(y_true, y_prob, *, sample_weight=None, input_type="probs",
        **options) -> float``; lower is better.
    needs : frozenset of str
        The keyword options ``function`` takes beyond those: ``{"n_bins",
        "strategy"}`` for the binned errors, empty for the proper scores.
    tasks : frozenset of str
        The tasks it is defined for, among ``"binary"``, ``"multiclass"`` and
        ``"multilabel"``.
    description : str
        One line for tables and ``--help``.
    binned : tuple of (str, object) pairs
        For the binned errors, the keyword arguments ``reduction``, ``norm``
        and ``debias`` that make the metric
        ``binned_calibration_error(calibration_bins(..., reduction=reduction),
        norm=norm, debias=debias)``: how to compute it from bin statistics,
        for example merged over chunks of a large file
        (:func:`calibrate.binning.merge_bin_stats`).  Empty for the others.
    """

    name: str
    function: Callable
    needs: frozenset
    tasks: frozenset
    description: str
    binned: tuple = ()

    def __call__(
        self, y_true, y_prob, *, sample_weight=None, input_type="probs", **options
    ):
        """Call :attr:`function`; ``options`` must be among :attr:`needs`.

        The options fixed by the entry (``reduction`` of ``ece_classwise``, for
        example) cannot be overridden through the registry.
        """
        unknown = set(options) - self.needs
        if unknown:
            raise TypeError(
                f"metric {self.name!r} takes the options {sorted(self.needs)}; got "
                f"{sorted(unknown)}."
            )
        return self.function(
            y_true,
            y_prob,
            sample_weight=sample_weight,
            input_type=input_type,
            **options,
        )


def _binned(
    name, tasks, description, *, reduction="top_label", norm="l1", debias=False
):
    """Return a binned error: :func:`expected_calibration_error` with fixed options."""
    options = {"reduction": reduction, "norm": norm, "debias": debias}
    return Metric(
        name,
        partial(expected_calibration_error, **options),
        _BINNING,
        tasks,
        description,
        tuple(options.items()),
    )


METRICS = {
    m.name: m
    for m in (
        _binned(
            "ece",
            _ONE_LABEL,
            "expected calibration error, top-label, L1 (Guo et al. 2017)",
        ),
        _binned(
            "ece_classwise",
            _ALL_TASKS,
            "classwise ECE, mean over classes (Kull et al. 2019)",
            reduction="classwise",
        ),
        _binned(
            "ece_positive",
            frozenset({"binary"}),
            "ECE of the positive-class probability (binary)",
            reduction="positive",
        ),
        _binned(
            "ece_l2_debiased",
            _ONE_LABEL,
            "RMS calibration error, top-label, debiased (Kumar et al. 2019)",
            norm="l2",
            debias=True,
        ),
        _binned(
            "mce",
            _ONE_LABEL,
            "maximum calibration error over non-empty bins, top-label",
            norm="max",
        ),
        _binned(
            "ece_top_label_conditional",
            _ONE_LABEL,
            "top-label ECE conditioned on the predicted class (Gupta & Ramdas 2022)",
            reduction="top_label_conditional",
        ),
        _binned(
            "mce_top_label_conditional",
            _ONE_LABEL,
            "top-label MCE conditioned on the predicted class, max over bins of "
            "the class-weighted gap (Gupta & Ramdas 2022)",
            reduction="top_label_conditional",
            norm="max",
        ),
        Metric(
            "nll",
            negative_log_likelihood,
            frozenset(),
            _ALL_TASKS,
            "negative log-likelihood (log loss), nats",
        ),
        Metric(
            "brier",
            brier_score,
            frozenset(),
            _ALL_TASKS,
            "Brier score (scikit-learn's brier_score_loss)",
        ),
        Metric(
            "classification_error",
            classification_error,
            frozenset(),
            _ALL_TASKS,
            "share of wrong predictions, 1 - accuracy",
        ),
    )
}
