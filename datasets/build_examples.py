"""Build the bundled examples of real model outputs in ``datasets/data/``.

Each example trains one scikit-learn model on a dataset that scikit-learn
ships (nothing is downloaded), on a stratified train / validation / test split
with fixed seeds, and saves the model's validation and test logits with the
true labels in ``data/<name>.npz``, read back by
:func:`calibrate.datasets.load_example`::

    python datasets/build_examples.py [--output-dir DIR]

The files hold ``val_logits``, ``val_labels``, ``test_logits``, ``test_labels``
(float64 logits, int64 labels) and ``DESCR``, a 0-d unicode array describing
the example; they load with ``np.load(path, allow_pickle=False)``.  The
direction of the miscalibration, the fitted temperature and the test ECE
before and after temperature scaling in ``DESCR`` are measured here, at build
time.

The files are byte for byte reproducible: ``np.savez`` stamps each zip entry
with the current time, so :func:`write_npz` writes the zip itself with a fixed
timestamp, and stores the entries uncompressed, so the bytes do not depend on
the zlib build either (float64 logits shrink by only about 4 % when deflated,
and the wheel deflates the files anyway).  Equal arrays therefore give equal
files, and rebuilding with the same library versions on the same machine gives
byte-identical files.  A different BLAS or scikit-learn may change the last
bits of the logits (the MLP is the most sensitive); the labels, the shapes and
the split do not depend on either.

This module ships in the wheel as ``calibrate.datasets.build_examples`` so the
examples can be rebuilt from an installed package as well
(``python -m calibrate.datasets.build_examples --output-dir DIR``); importing
:mod:`calibrate.datasets` does not import it.
"""

import argparse
import sys
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from calibrate.calibrators import TemperatureScaling
from calibrate.metrics import expected_calibration_error

__all__ = [
    "DEFAULT_OUTPUT_DIR",
    "EXAMPLES",
    "Example",
    "build_examples",
    "main",
    "mlp_logits",
    "write_npz",
]

DEFAULT_OUTPUT_DIR = Path(__file__).resolve().parent / "data"

# One seed for every split and every model: the examples of one dataset share
# their validation and test rows, so their outputs can be compared row by row.
SEED = 0
# The earliest time a zip entry can hold; any fixed value makes the bytes
# independent of when the file was written.
_ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
# The package's default binning for the top-label ECE, stated in DESCR.
_ECE_BINS = 15

_DATASETS = {
    "digits": (
        load_digits,
        "sklearn.datasets.load_digits (8x8 images of handwritten digits, "
        "64 pixel features from 0 to 16, 10 classes)",
    ),
    "breast_cancer": (
        load_breast_cancer,
        "sklearn.datasets.load_breast_cancer (Wisconsin diagnostic breast "
        "cancer, 30 features, 2 classes: 0 = malignant, 1 = benign)",
    ),
}


def mlp_logits(model, X):
    """Output layer of a fitted ``MLPClassifier`` before its softmax.

    ``predict_log_proba`` is ``log(predict_proba)`` and turns a probability
    that underflows to 0 into ``-inf``; the pre-softmax outputs are finite.
    Computed from the public ``coefs_`` and ``intercepts_`` (ReLU hidden
    layers, as the examples use).
    """
    if model.activation != "relu" or model.out_activation_ != "softmax":
        raise ValueError("only ReLU networks with a softmax output are supported.")
    hidden = np.asarray(X, dtype=np.float64)
    for coef, intercept in zip(model.coefs_[:-1], model.intercepts_[:-1], strict=True):
        hidden = np.maximum(hidden @ coef + intercept, 0.0)
    return hidden @ model.coefs_[-1] + model.intercepts_[-1]


@dataclass(frozen=True)
class Example:
    """How one bundled example is built.

    Parameters
    ----------
    dataset : {"digits", "breast_cancer"}
        The scikit-learn dataset, split in three stratified thirds (train,
        validation, test) with ``random_state=SEED``.
    model : callable
        Returns a fresh, unfitted estimator with fixed hyper-parameters.
    logits : str
        Name of the method giving the logits (``"decision_function"``,
        ``"predict_log_proba"``) or ``"mlp_logits"`` for the pre-softmax
        output of an ``MLPClassifier``.
    what : str
        One sentence saying what the logits are, for the description.
    """

    dataset: str
    model: Callable
    logits: str
    what: str

    def compute_logits(self, fitted, X):
        """Return the float64 logits of ``fitted`` on ``X``."""
        if self.logits == "mlp_logits":
            values = mlp_logits(fitted, X)
        else:
            values = getattr(fitted, self.logits)(X)
        return np.asarray(values, dtype=np.float64)


EXAMPLES = {
    "digits_mlp": Example(
        dataset="digits",
        # L-BFGS with almost no weight decay drives the training loss towards
        # zero on 599 images: the network ends up sharply over-confident.
        model=lambda: MLPClassifier(
            hidden_layer_sizes=(32,),
            solver="lbfgs",
            alpha=1e-5,
            max_iter=2000,
            random_state=SEED,
        ),
        logits="mlp_logits",
        what="the network's output layer before the softmax, shape (n, 10)",
    ),
    "digits_naive_bayes": Example(
        dataset="digits",
        # The default var_smoothing=1e-9 leaves pixels that are constant within
        # a class with a near-zero variance and log-probabilities of -1e10;
        # 0.1 keeps them finite and moderate while the model stays
        # over-confident (naive Bayes counts correlated pixels as independent
        # evidence).
        model=lambda: GaussianNB(var_smoothing=0.1),
        logits="predict_log_proba",
        what="log-probabilities from predict_log_proba, shape (n, 10)",
    ),
    "digits_logistic_regression": Example(
        dataset="digits",
        # C=1e-3 on raw pixel values shrinks the weights hard: accuracy stays
        # above 90 % but the probabilities are far too close to uniform.
        # Newton-CG to tol=1e-8 reaches the optimum itself (in ~16 iterations),
        # so the logits do not depend on where the iterations stop; the default
        # lbfgs stops up to 1e-2 away and moves with the last bits of the data.
        model=lambda: LogisticRegression(
            C=1e-3, solver="newton-cg", tol=1e-8, max_iter=1000
        ),
        logits="decision_function",
        what="the multinomial decision function (softmax logits), shape (n, 10)",
    ),
    "breast_cancer_boosting": Example(
        dataset="breast_cancer",
        model=lambda: GradientBoostingClassifier(random_state=SEED),
        logits="decision_function",
        what=("the decision function (log-odds of class 1, benign), shape (n,)"),
    ),
    "breast_cancer_svm": Example(
        dataset="breast_cancer",
        # A hinge-loss margin is not a log-odds: with C=0.01 the margins stay
        # within a few units, so read as log-odds they are under-confident.
        model=lambda: make_pipeline(
            StandardScaler(), LinearSVC(C=0.01, random_state=SEED)
        ),
        logits="decision_function",
        what=(
            "the signed margin from decision_function (positive for class 1, "
            "benign), shape (n,), read as log-odds"
        ),
    ),
}


def _split(X, y):
    """Stratified thirds: train, validation, test."""
    X_train, X_rest, y_train, y_rest = train_test_split(
        X, y, test_size=2 / 3, stratify=y, random_state=SEED
    )
    X_val, X_test, y_val, y_test = train_test_split(
        X_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=SEED
    )
    return X_train, y_train, X_val, y_val, X_test, y_test


def _accuracy(logits, labels):
    predicted = (logits > 0).astype(np.int64) if logits.ndim == 1 else logits.argmax(1)
    return float(np.mean(predicted == labels))


def _describe(name, example, fitted, arrays, n_train):
    """Describe one example, measuring its calibration on the arrays."""
    val_logits, val_labels = arrays["val_logits"], arrays["val_labels"]
    test_logits, test_labels = arrays["test_logits"], arrays["test_labels"]
    temperature = (
        TemperatureScaling(input_type="logits").fit(val_logits, val_labels).temperature_
    )
    ece_before = expected_calibration_error(
        test_labels, test_logits, input_type="logits", n_bins=_ECE_BINS
    )
    ece_after = expected_calibration_error(
        test_labels, test_logits / temperature, input_type="logits", n_bins=_ECE_BINS
    )
    direction = "over-confident" if temperature > 1 else "under-confident"
    relation = ">" if temperature > 1 else "<"
    source = _DATASETS[example.dataset][1]
    model = " ".join(repr(fitted).split())
    return "\n".join(
        [
            f"{name}: real outputs of a scikit-learn model, built by "
            "calibrate.datasets.build_examples.",
            "",
            f"Data: {source}.",
            f"Split: stratified train / validation / test of {n_train} / "
            f"{len(val_labels)} / {len(test_labels)} rows "
            f"(train_test_split, random_state={SEED}).",
            f"Model: {model}, trained on the train rows.",
            f"Logits: {example.what}; read them with input_type='logits'.",
            f"Calibration: {direction}. Temperature scaling fitted on the "
            f"validation rows gives T = {temperature:.3g} ({relation} 1). "
            f"Test top-label ECE ({_ECE_BINS} equal-width bins) "
            f"{100 * ece_before:.1f} % "
            f"before temperature scaling, {100 * ece_after:.1f} % after; "
            f"test accuracy {100 * _accuracy(test_logits, test_labels):.1f} %.",
        ]
    )


def _build_one(name, example):
    """Train the model of one example; return its arrays and description."""
    loader, _ = _DATASETS[example.dataset]
    X, y = loader(return_X_y=True)
    X_train, y_train, X_val, y_val, X_test, y_test = _split(X, y)
    model = example.model()
    with warnings.catch_warnings():
        # A model that stops before converging would make a different example
        # from the one described: fail loudly instead of shipping it.
        warnings.simplefilter("error", ConvergenceWarning)
        fitted = model.fit(X_train, y_train)
    arrays = {
        "val_logits": example.compute_logits(fitted, X_val),
        "val_labels": np.asarray(y_val, dtype=np.int64),
        "test_logits": example.compute_logits(fitted, X_test),
        "test_labels": np.asarray(y_test, dtype=np.int64),
    }
    for key in ("val_logits", "test_logits"):
        if not np.all(np.isfinite(arrays[key])):
            raise RuntimeError(f"{name}: {key} holds non-finite values.")
    arrays["DESCR"] = np.array(_describe(name, example, fitted, arrays, len(y_train)))
    return arrays


def write_npz(path, arrays):
    """Write ``arrays`` to an ``.npz`` file with reproducible bytes.

    Equivalent to ``np.savez(path, **arrays)`` except that every zip entry
    carries the same fixed timestamp and file attributes, so equal arrays give
    equal files.  Object arrays are refused.

    Parameters
    ----------
    path : str or path-like
        The file to write (overwritten).
    arrays : dict of str to ndarray
        Entry names (without ``.npy``) and their arrays, written in this order.
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE_TIME)
            # Fixed so Windows and Unix write the same header bytes.
            info.create_system = 3
            info.external_attr = 0o644 << 16
            with zf.open(info, "w") as f:
                np.lib.format.write_array(f, np.asarray(value), allow_pickle=False)


def build_examples(output_dir=DEFAULT_OUTPUT_DIR):
    """Train every model in :data:`EXAMPLES` and write its ``.npz`` file.

    Parameters
    ----------
    output_dir : str or path-like, default=DEFAULT_OUTPUT_DIR
        Directory for the files (created if needed); by default the ``data``
        directory beside this module, from which
        :func:`calibrate.datasets.load_example` reads.

    Returns
    -------
    paths : list of pathlib.Path
        The files written, ``output_dir / f"{name}.npz"``, in the order of
        :data:`EXAMPLES`.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, example in EXAMPLES.items():
        path = output_dir / f"{name}.npz"
        write_npz(path, _build_one(name, example))
        paths.append(path)
    return paths


def main(argv=None):
    """Build the examples from the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="build_examples",
        description="Build the bundled examples of calibrate.datasets.",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_OUTPUT_DIR,
        help="directory for the .npz files (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    for path in build_examples(args.output_dir):
        with np.load(path, allow_pickle=False) as data:
            summary = str(data["DESCR"]).splitlines()[-1]
        print(f"{path} ({path.stat().st_size:,} bytes)\n  {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
