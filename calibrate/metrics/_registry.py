"""The registry of metrics: every metric the CLI, the report and the tests run."""

from dataclasses import dataclass
from functools import partial
from typing import Callable

from calibrate.metrics._calibration_error import (
    expected_calibration_error,
    maximum_calibration_error,
)
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
    """

    name: str
    function: Callable
    needs: frozenset
    tasks: frozenset
    description: str

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


METRICS = {
    m.name: m
    for m in (
        Metric(
            "ece",
            expected_calibration_error,
            _BINNING,
            _ONE_LABEL,
            "expected calibration error, top-label, L1 (Guo et al. 2017)",
        ),
        Metric(
            "ece_classwise",
            partial(expected_calibration_error, reduction="classwise"),
            _BINNING,
            _ALL_TASKS,
            "classwise ECE, mean over classes (Kull et al. 2019)",
        ),
        Metric(
            "ece_positive",
            partial(expected_calibration_error, reduction="positive"),
            _BINNING,
            frozenset({"binary"}),
            "ECE of the positive-class probability (binary)",
        ),
        Metric(
            "ece_l2_debiased",
            partial(expected_calibration_error, norm="l2", debias=True),
            _BINNING,
            _ONE_LABEL,
            "RMS calibration error, top-label, debiased (Kumar et al. 2019)",
        ),
        Metric(
            "mce",
            maximum_calibration_error,
            _BINNING,
            _ONE_LABEL,
            "maximum calibration error over non-empty bins, top-label",
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
