"""Bundled real model outputs: validation and test logits of scikit-learn models.

The files in ``data/`` are built by ``datasets/build_examples.py`` (shipped as
``calibrate.datasets.build_examples``), which trains each model on a dataset
that scikit-learn ships and measures its miscalibration; the description of
each example says how.  They are read here with :mod:`importlib.resources`,
so they load from a wheel as well as from an editable install.
"""

import difflib
from importlib.resources import files

import numpy as np
from sklearn.utils import Bunch

__all__ = ["list_examples", "load_example"]

_PACKAGE = "calibrate.datasets"
_SUFFIX = ".npz"
_ARRAYS = ("val_logits", "val_labels", "test_logits", "test_labels")


def _data_dir():
    return files(_PACKAGE) / "data"


def list_examples():
    """Return the names of the bundled examples, sorted.

    Returns
    -------
    names : list of str
        Every name accepted by :func:`load_example`.

    See Also
    --------
    load_example : Load one example by name.

    Examples
    --------
    >>> from calibrate.datasets import list_examples
    >>> "digits_mlp" in list_examples()
    True
    """
    return sorted(
        entry.name[: -len(_SUFFIX)]
        for entry in _data_dir().iterdir()
        if entry.name.endswith(_SUFFIX)
    )


def load_example(name):
    """Load the validation and test logits of one real, miscalibrated model.

    Each example is a scikit-learn model trained on a dataset that
    scikit-learn ships (digits, breast cancer), split in stratified thirds:
    the model was trained on the first third and its logits on the other two
    are returned, the validation rows to fit a calibrator on and the test rows
    to evaluate it.  ``DESCR`` names the dataset, the model and its
    hyper-parameters, the split, what the logits are, and the direction of
    the miscalibration with the temperature and the test ECE before and after
    temperature scaling measured when the example was built.

    Parameters
    ----------
    name : str
        One of :func:`list_examples`: ``"digits_mlp"``,
        ``"digits_naive_bayes"`` and ``"breast_cancer_boosting"`` are
        over-confident, ``"digits_logistic_regression"`` and
        ``"breast_cancer_svm"`` under-confident; the ``breast_cancer_*``
        examples are binary (1-D logits), the ``digits_*`` ones have 10
        classes.

    Returns
    -------
    data : sklearn.utils.Bunch
        With the fields

        val_logits : ndarray of shape (n_val,) or (n_val, n_classes)
            Float64 logits of the validation rows: 1-D log-odds of class 1
            for a binary model, one column per class otherwise.
        val_labels : ndarray of shape (n_val,)
            Int64 labels ``0, ..., n_classes - 1`` of the validation rows.
        test_logits : ndarray of shape (n_test,) or (n_test, n_classes)
            Float64 logits of the test rows.
        test_labels : ndarray of shape (n_test,)
            Int64 labels of the test rows.
        DESCR : str
            Description of the example.
        name : str
            ``name``.
        input_type : str
            ``"logits"``, to pass on as ``input_type`` to calibrators and
            metrics.

        The arrays are read from the file on every call: they are fresh,
        writeable arrays owned by the caller, and changing them changes
        nothing for later calls.

    Raises
    ------
    TypeError
        If ``name`` is not a string.
    ValueError
        If ``name`` is not the name of a bundled example.

    See Also
    --------
    list_examples : The available names.
    make_miscalibrated : Synthetic logits with a known calibration map.

    Examples
    --------
    >>> from calibrate import TemperatureScaling
    >>> from calibrate.datasets import load_example
    >>> from calibrate.metrics import expected_calibration_error
    >>> data = load_example("digits_naive_bayes")
    >>> data.val_logits.shape, data.test_logits.shape
    ((599, 10), (599, 10))
    >>> ts = TemperatureScaling(input_type=data.input_type)
    >>> ts = ts.fit(data.val_logits, data.val_labels)
    >>> bool(ts.temperature_ > 1)  # over-confident
    True
    >>> before = expected_calibration_error(
    ...     data.test_labels, data.test_logits, input_type="logits"
    ... )
    >>> after = expected_calibration_error(
    ...     data.test_labels, ts.predict_proba(data.test_logits)
    ... )
    >>> bool(after < before)
    True
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string; got {name!r}.")
    available = list_examples()
    if name not in available:
        close = difflib.get_close_matches(name, available, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        listing = ", ".join(repr(n) for n in available)
        raise ValueError(
            f"Unknown example {name!r}.{hint} Available examples: {listing}."
        )
    with (_data_dir() / f"{name}{_SUFFIX}").open("rb") as f:
        with np.load(f, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in _ARRAYS}
            descr = str(npz["DESCR"])
    return Bunch(**arrays, DESCR=descr, name=name, input_type="logits")
