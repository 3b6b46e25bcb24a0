"""Automatic choice of the calibration map by cross-validation."""

import numbers
import warnings

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from calibrate.calibrators._base import BaseCalibrator
from calibrate.calibrators._diagnostics import count_parameters

__all__ = ["AutoCalibration"]

_SCORINGS = ("nll", "brier")


class AutoCalibration(BaseCalibrator):
    """Choose the calibration map by K-fold cross-validation, then refit it.

    Each candidate is fitted on ``cv - 1`` folds of the validation rows and
    scored on the held-out fold (stratified folds for binary and multiclass
    labels, shuffled with ``random_state``).  The choice follows the
    **one-standard-error rule toward fewer parameters**: among the candidates
    whose mean held-out score is within one standard error (of the best
    candidate's fold scores) of the best mean, take the one with the fewest
    free parameters, ties going to the lower mean.  A richer map must beat a
    simpler one by more than the noise of the folds to be chosen: on the
    bundled ``digits_mlp`` example matrix scaling has the lowest validation
    NLL but twice temperature scaling's test NLL, and it is not chosen.  The
    chosen map is then refitted on all rows (``best_estimator_``) and used for
    every prediction.

    Parameters
    ----------
    methods : sequence of str or None, default=None
        Candidate names of :data:`calibrate.CALIBRATORS`; None takes every
        registered map that supports the task of ``y`` (``"auto"`` itself
        excluded).
    cv : int, default=5
        Number of folds (at least 2, at most the smallest class's count).
    scoring : {"nll", "brier"}, default="nll"
        Held-out score, lower is better.
    random_state : int or None, default=None
        Seed of the fold shuffle.
    input_type : {"logits", "probs", "log_probs"}, default="logits"
        How ``X`` is to be read; the candidates see logits.

    Attributes
    ----------
    best_method_ : str
        The chosen name.
    best_estimator_ : calibrator
        The chosen map, refitted on all rows.
    cv_results_ : pandas.DataFrame
        One row per candidate: ``method``, ``n_parameters``, ``mean``,
        ``std_error``, ``fold_0`` ... ``fold_{cv-1}``, ``warnings`` (raised
        while fitting the folds) and ``chosen``.

    Examples
    --------
    >>> from calibrate import AutoCalibration
    >>> from calibrate.datasets import load_example
    >>> d = load_example("digits_mlp")
    >>> auto = AutoCalibration(random_state=0).fit(d.val_logits, d.val_labels)
    >>> auto.best_method_ != "matrix"
    True
    """

    _fitted_parameters = ()
    _scalar_parameters = ()

    def __init__(
        self,
        methods=None,
        *,
        cv=5,
        scoring="nll",
        random_state=None,
        input_type="logits",
    ):
        self.methods = methods
        self.cv = cv
        self.scoring = scoring
        self.random_state = random_state
        self.input_type = input_type

    def _validate_hyperparameters(self):
        super()._validate_hyperparameters()
        if not (
            isinstance(self.cv, numbers.Integral)
            and not isinstance(self.cv, bool)
            and self.cv >= 2
        ):
            raise ValueError(f"cv must be an integer >= 2; got {self.cv!r}.")
        if self.scoring not in _SCORINGS:
            raise ValueError(
                f"scoring must be one of {', '.join(_SCORINGS)}; got {self.scoring!r}."
            )

    def _candidates(self):
        from calibrate.calibrators import CALIBRATORS

        if self.methods is None:
            names = [
                name
                for name, cls in CALIBRATORS.items()
                if self.task_ in cls._supported_tasks and cls is not AutoCalibration
            ]
        else:
            names = list(self.methods)
            unknown = [m for m in names if m not in CALIBRATORS or m == "auto"]
            if unknown or not names:
                raise ValueError(
                    f"methods must name registered calibrators; got {names!r} "
                    f"(known: {', '.join(sorted(CALIBRATORS))})."
                )
            unsupported = [
                m for m in names if self.task_ not in CALIBRATORS[m]._supported_tasks
            ]
            if unsupported:
                raise ValueError(
                    f"methods {unsupported} do not support {self.task_} input."
                )
        return {name: CALIBRATORS[name] for name in names}

    def _score(self, calibrator, Z, y, w):
        from calibrate.metrics import brier_score, negative_log_likelihood

        P = calibrator.predict_proba(Z)
        labels = y if self.task_ != "binary" else y.reshape(-1)
        function = negative_log_likelihood if self.scoring == "nll" else brier_score
        return float(function(labels, P, sample_weight=w))

    def _fit(self, Z, y, w):
        import pandas as pd

        n = Z.shape[0]
        candidates = self._candidates()
        if self.task_ == "multilabel":
            splitter = KFold(self.cv, shuffle=True, random_state=self.random_state)
            split = splitter.split(Z)
        else:
            labels = y.reshape(-1).astype(np.int64)
            present = np.bincount(labels[w > 0])
            smallest = present[present > 0].min()
            if self.cv > smallest:
                raise ValueError(
                    f"cv={self.cv} folds need at least {self.cv} rows of every class "
                    f"that occurs; the smallest has {smallest}."
                )
            splitter = StratifiedKFold(
                self.cv, shuffle=True, random_state=self.random_state
            )
            split = splitter.split(Z, labels)
        folds = list(split)
        weights = w * n  # the calibrators normalise again
        rows = []
        for name, cls in candidates.items():
            scores, params, caught = [], [], 0
            for train, test in folds:
                with warnings.catch_warnings(record=True) as seen:
                    warnings.simplefilter("always")
                    cal = cls(input_type="logits").fit(
                        Z[train], y[train], sample_weight=weights[train]
                    )
                    scores.append(self._score(cal, Z[test], y[test], weights[test]))
                caught += len(seen)
                params.append(count_parameters(cal))
            scores = np.array(scores)
            row = {
                "method": name,
                "n_parameters": int(np.median(params)),
                "mean": float(scores.mean()),
                "std_error": float(scores.std(ddof=1) / np.sqrt(len(scores))),
            }
            row.update({f"fold_{i}": s for i, s in enumerate(scores)})
            row["warnings"] = caught
            rows.append(row)
        table = pd.DataFrame(rows)
        finite = np.isfinite(table["mean"].to_numpy())
        if not finite.any():
            raise ValueError(
                "every candidate has an infinite or undefined held-out score; "
                f"candidates: {list(candidates)}."
            )
        best = table[finite]["mean"].idxmin()
        threshold = table.loc[best, "mean"] + table.loc[best, "std_error"]
        eligible = table[finite & (table["mean"] <= threshold).to_numpy()]
        chosen = eligible.sort_values(["n_parameters", "mean"], kind="stable").index[0]
        table["chosen"] = table.index == chosen
        self.cv_results_ = table
        self.best_method_ = str(table.loc[chosen, "method"])
        self.best_estimator_ = candidates[self.best_method_](input_type="logits").fit(
            Z, y, sample_weight=weights
        )
        self.n_iter_ = getattr(self.best_estimator_, "n_iter_", 0)

    def _parameter_shapes(self):
        return {}

    def _n_free_parameters(self):
        return count_parameters(self.best_estimator_)

    def _calibrated_logits(self, Zc):
        return self.best_estimator_._calibrated_logits(Zc)
