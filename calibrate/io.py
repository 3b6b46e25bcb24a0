"""Save and load fitted calibrators as versioned JSON documents; never pickle.

A saved calibrator is a plain JSON object::

    {
      "format": "calibrate.calibrator",
      "format_version": 2,
      "library_version": "0.1.0",
      "method": "temperature",
      "class": "TemperatureScaling",
      "params": {"input_type": "logits", "max_iter": 100},
      "fitted": {
        "classes_": {"dtype": "int64", "shape": [3], "data": [0, 1, 2]},
        "n_features_in_": 3,
        "n_iter_": 2,
        "task_": "multiclass",
        "temperature_": 1.8731529271457152
      }
    }

``method`` is the name the class is registered under in
:data:`calibrate.calibrators.CALIBRATORS` (a calibrator added with
:func:`calibrate.calibrators.register` is found by it); ``class`` is the
class's ``__name__``, checked against the registered class.  Files of format
version 1 have no ``method`` and are resolved by ``class`` alone.

``params`` is ``get_params(deep=False)``: JSON scalars, lists of them, and
calibrators (an object ``{"calibrator": {"method", "class", "params"}}``,
saved unfitted, as :func:`sklearn.base.clone` would pass them on); a tuple
comes back as a list.  ``fitted`` holds the attributes every calibrator has
(``classes_``, ``n_features_in_``, ``task_``, and, when present, ``n_iter_``
and ``feature_names_in_``) and the class's own ``_fitted_parameters``, each
checked against the shape the class declares in ``_parameter_shapes()`` (see
:meth:`calibrate.calibrators.BaseCalibrator._parameter_shapes`): an exact
shape, a dimension of any length, an array of any shape, or a list of arrays.
Arrays are ``{"dtype", "shape", "data"}`` with ``data`` as nested lists; a
list of arrays is a JSON list of such entries; parameters declared as scalars
are plain numbers.  No per-class code reads or writes them.
Python writes every float as the shortest text that reads back to the same
float64, so a loaded calibrator predicts bit-for-bit what the saved one did.

Loading reads the file with :func:`json.load` only (no pickle, no ``eval``,
no import by name): the class must be one of the registry
:data:`calibrate.calibrators.CALIBRATORS`, and every field is checked (type,
dtype, shape against the class's own parameter shapes, finiteness) before an
estimator is built, so a truncated or tampered file is a ``ValueError`` naming
the file and the problem.

Arrays (a model's saved scores and labels) are read with :func:`load_array`
from ``.npy`` files or ``.npz`` archives, never unpickling anything, and
written with :func:`save_array`.  Every file this module writes goes through
:func:`atomic_write`: a temporary file beside the destination, renamed over it
only once it is complete.
"""

import contextlib
import errno
import json
import math
import os
import secrets
import stat
import zipfile

import numpy as np
from sklearn.utils.validation import check_is_fitted

import calibrate
from calibrate._validation import INPUT_TYPES, TASKS
from calibrate.calibrators import CALIBRATORS, BaseCalibrator, registered_name

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "atomic_write",
    "calibrator_from_dict",
    "calibrator_to_dict",
    "fitted_parameters",
    "load_array",
    "load_calibrator",
    "save_array",
    "save_calibrator",
    "split_array_spec",
]

#: Value of the ``"format"`` field of a saved calibrator.
FORMAT = "calibrate.calibrator"
#: The newest ``"format_version"`` this library writes and reads.
FORMAT_VERSION = 2

_TOP_LEVEL_KEYS = (
    "format",
    "format_version",
    "library_version",
    "class",
    "params",
    "fitted",
)
# Version 2 adds the registry name; version 1 files are resolved by class.
_TOP_LEVEL_KEYS_V2 = (*_TOP_LEVEL_KEYS[:3], "method", *_TOP_LEVEL_KEYS[3:])
_COMMON_FITTED = ("classes_", "n_features_in_", "task_")
_OPTIONAL_FITTED = ("feature_names_in_", "n_iter_")
# Fitted parameters that must be strictly positive for the map to make sense.
_POSITIVE_PARAMETERS = ("temperature_",)

# Label dtypes that can be written as JSON numbers, booleans or strings and
# read back exactly.  Integer labels of any width keep their dtype (binary
# labels such as {3, 8} stored as uint8 come back as uint8).
_INTEGER_DTYPES = (
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
)
_CLASSES_DTYPES = ("bool", *_INTEGER_DTYPES, "float64", "str")
_PARAMETER_DTYPES = ("float64",)
_NAMES_DTYPES = ("str",)


class _Malformed(ValueError):
    """A problem with a document; the public functions add where it came from."""


# ------------------------------------------------------------------ writing
def calibrator_to_dict(calibrator):
    """Return a fitted calibrator as a JSON-ready dictionary.

    The pure core of :func:`save_calibrator`: the result holds only ``dict``,
    ``list``, ``str``, ``int``, ``float`` and ``bool``, so it can be embedded in
    another JSON document (a report) and turned back into a calibrator with
    :func:`calibrator_from_dict`.

    Parameters
    ----------
    calibrator : estimator
        A fitted instance of a class in :data:`calibrate.calibrators.CALIBRATORS`.

    Returns
    -------
    dict
        The document described in :mod:`calibrate.io`.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``calibrator`` is not fitted.
    TypeError
        If ``calibrator`` is not a registered calibrator, or a parameter or
        fitted attribute has a type that cannot be saved (for example class
        labels of an unsupported dtype).
    ValueError
        If a fitted attribute holds NaN or infinite values or has a shape its
        class does not expect.

    Examples
    --------
    >>> import numpy as np
    >>> from calibrate import TemperatureScaling
    >>> from calibrate.io import calibrator_to_dict
    >>> rng = np.random.default_rng(0)
    >>> logits = rng.normal(size=(300, 3)) * 3
    >>> labels = (logits / 2 + rng.gumbel(size=logits.shape)).argmax(axis=1)
    >>> doc = calibrator_to_dict(TemperatureScaling().fit(logits, labels))
    >>> doc["method"], doc["class"], doc["format_version"], doc["fitted"]["task_"]
    ('temperature', 'TemperatureScaling', 2, 'multiclass')
    >>> doc["fitted"]["classes_"]
    {'dtype': 'int64', 'shape': [3], 'data': [0, 1, 2]}
    """
    cls = type(calibrator)
    method = registered_name(cls)
    if method is None:
        raise TypeError(
            f"Only the registered calibrators ({', '.join(_known_names())}) can be "
            f"saved; got an instance of {cls.__module__}.{cls.__qualname__}. "
            "Register its class with calibrate.calibrators.register(name, cls)."
        )
    check_is_fitted(calibrator)
    name = cls.__name__

    fitted = {
        "classes_": _encode_array(
            calibrator.classes_, f"{name}.classes_", _CLASSES_DTYPES
        ),
        "n_features_in_": _encode_int(
            calibrator.n_features_in_, f"{name}.n_features_in_"
        ),
        "task_": str(calibrator.task_),
    }
    if hasattr(calibrator, "n_iter_"):
        fitted["n_iter_"] = _encode_int(calibrator.n_iter_, f"{name}.n_iter_")
    if hasattr(calibrator, "feature_names_in_"):
        fitted["feature_names_in_"] = _encode_array(
            calibrator.feature_names_in_, f"{name}.feature_names_in_", _NAMES_DTYPES
        )
    shapes = calibrator._parameter_shapes()
    for key in cls._fitted_parameters:
        fitted[key] = _encode_state(
            getattr(calibrator, key), shapes[key], f"{name}.{key}", calibrator
        )

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": calibrate.__version__,
        "method": method,
        "class": name,
        "params": _encode_params(calibrator, name),
        "fitted": fitted,
    }


def _encode_params(estimator, name):
    return {
        key: _encode_param(value, f"{name} parameter {key!r}")
        for key, value in estimator.get_params(deep=False).items()
    }


def _shape_text(shape):
    if shape is None:
        return "any shape"
    if isinstance(shape, list):
        return "a list of " + str(len(shape)) + " arrays"
    return (
        "("
        + ", ".join("any" if n is None else str(n) for n in shape)
        + (",)" if len(shape) == 1 else ")")
    )


def _shape_fits(actual, shape):
    return shape is None or (
        len(actual) == len(shape)
        and all(
            want is None or want == got for got, want in zip(actual, shape, strict=True)
        )
    )


def _encode_state(value, shape, what, calibrator):
    """Encode one fitted attribute as its declared ``shape`` says."""
    if isinstance(shape, list):
        if not isinstance(value, (list, tuple)) or len(value) != len(shape):
            raise ValueError(
                f"{what} must be a list of {len(shape)} arrays for a fitted "
                f"{type(calibrator).__name__} with task_={calibrator.task_!r}; got "
                f"{type(value).__name__}"
                + (
                    f" of length {len(value)}"
                    if isinstance(value, (list, tuple))
                    else ""
                )
                + "."
            )
        return [
            _encode_state(v, s, f"{what}[{i}]", calibrator)
            for i, (v, s) in enumerate(zip(value, shape, strict=True))
        ]
    if shape == ():
        return _encode_float(value, what)
    if not _shape_fits(np.shape(value), shape):
        raise ValueError(
            f"{what} has shape {np.shape(value)} but a fitted "
            f"{type(calibrator).__name__} with task_={calibrator.task_!r} and "
            f"n_features_in_={calibrator.n_features_in_} has shape "
            f"{_shape_text(shape)}."
        )
    return _encode_array(value, what, _PARAMETER_DTYPES)


def fitted_parameters(calibrator):
    """Return the map's own fitted parameters as plain Python values.

    The parameters :func:`calibrator_to_dict` saves beside the attributes
    every calibrator has: a float for a scalar, nested lists for an array.

    Parameters
    ----------
    calibrator : estimator
        A fitted instance of a class in :data:`calibrate.calibrators.CALIBRATORS`.

    Returns
    -------
    dict
        Name (such as ``"temperature_"`` or ``"coef_"``) to value.

    Examples
    --------
    >>> import numpy as np
    >>> from calibrate import VectorScaling
    >>> from calibrate.io import fitted_parameters
    >>> rng = np.random.default_rng(0)
    >>> logits = rng.normal(size=(300, 3)) * 3
    >>> labels = (logits / 2 + rng.gumbel(size=logits.shape)).argmax(axis=1)
    >>> sorted(fitted_parameters(VectorScaling().fit(logits, labels)))
    ['coef_', 'intercept_']
    """
    fitted = calibrator_to_dict(calibrator)["fitted"]
    return {key: _plain(fitted[key]) for key in type(calibrator)._fitted_parameters}


def _plain(entry):
    """Return the data of an encoded fitted attribute (number, lists, arrays)."""
    if isinstance(entry, dict):
        return entry["data"]
    if isinstance(entry, list):
        return [_plain(e) for e in entry]
    return entry


def save_calibrator(calibrator, path, *, overwrite=False):
    """Save a fitted calibrator to a JSON file.

    The document is written to a temporary file in the same directory, flushed
    to disk, then renamed over ``path`` with :func:`os.replace`, so ``path``
    holds either the previous content or the whole new document, never a
    partial one; the temporary file is removed if anything fails.

    Parameters
    ----------
    calibrator : estimator
        A fitted instance of a class in :data:`calibrate.calibrators.CALIBRATORS`.
    path : str or os.PathLike
        Destination file (conventionally ``*.json``); its directory must exist.
    overwrite : bool, default=False
        Replace ``path`` if it exists.  Without it an existing file is left
        untouched and :class:`FileExistsError` is raised.  (The check happens
        before writing; a file created by another process in between is
        replaced.)

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``calibrator`` is not fitted.
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    TypeError, ValueError
        As :func:`calibrator_to_dict` raises them.

    See Also
    --------
    load_calibrator : Read the file back.
    calibrator_to_dict : The same document as a dictionary.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from calibrate import TemperatureScaling
    >>> from calibrate.io import load_calibrator, save_calibrator
    >>> rng = np.random.default_rng(0)
    >>> logits = rng.normal(size=(300, 3)) * 3
    >>> labels = (logits / 2 + rng.gumbel(size=logits.shape)).argmax(axis=1)
    >>> cal = TemperatureScaling().fit(logits, labels)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "model.json")
    ...     save_calibrator(cal, path)
    ...     loaded = load_calibrator(path)
    >>> loaded.temperature_ == cal.temperature_
    True
    >>> np.array_equal(loaded.predict_proba(logits), cal.predict_proba(logits))
    True
    """
    text = json.dumps(calibrator_to_dict(calibrator), indent=2, allow_nan=False)
    with atomic_write(path, "w", overwrite=overwrite) as f:
        f.write(text + "\n")


@contextlib.contextmanager
def atomic_write(path, mode="w", *, overwrite=False):
    """Open ``path`` for writing so that it is replaced whole or not at all.

    The body writes to a temporary file in the same directory (so the final
    rename cannot cross file systems); when the body finishes, the file is
    flushed to disk and renamed over ``path`` with :func:`os.replace`.  If the
    body raises (or is interrupted), the temporary file is removed and
    ``path`` is left as it was.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; its directory must exist.
    mode : {"w", "wb"}, default="w"
        Text (UTF-8, Unix line endings) or binary.
    overwrite : bool, default=False
        Replace ``path`` if it exists.  Without it an existing file is left
        untouched and :class:`FileExistsError` is raised before anything is
        written.  The finished file is then hard-linked to ``path``, which
        fails if ``path`` has appeared meanwhile, so of two concurrent writers
        without ``overwrite`` one fails with :class:`FileExistsError` instead
        of silently replacing the other's file.

    Yields
    ------
    file object
        The open temporary file.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    ValueError
        If ``mode`` is not ``"w"`` or ``"wb"``.

    Examples
    --------
    >>> import os, tempfile
    >>> from calibrate.io import atomic_write
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "notes.txt")
    ...     with atomic_write(path) as f:
    ...         _ = f.write("complete")
    ...     try:
    ...         with atomic_write(path, overwrite=True) as f:
    ...             _ = f.write("half")
    ...             raise RuntimeError("interrupted")
    ...     except RuntimeError:
    ...         pass
    ...     print(open(path).read(), sorted(os.listdir(tmp)))
    complete ['notes.txt']
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb'; got {mode!r}.")
    path = os.fsdecode(os.fspath(path))
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(
            f"{path} already exists; pass overwrite=True to replace it."
        )
    directory, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never reuse a file someone else created; mode 0o666 lets the
    # umask decide the permissions, as for any newly created file.
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise type(exc)(exc.errno, exc.strerror or str(exc), path) from exc
    try:
        if mode == "w":
            f = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        else:
            f = os.fdopen(fd, "wb")
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
    except FileExistsError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        # Name the destination, not the temporary file the error was about.
        raise type(exc)(exc.errno, exc.strerror or str(exc), path) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _link_new(tmp, path):
    """Move the complete ``tmp`` to ``path`` without replacing an existing file."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(
            f"{path} already exists (another process created it meanwhile); "
            "pass overwrite=True to replace it."
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV):
            raise
        # A file system without hard links (FAT, some network mounts): the
        # existence check just before the rename is all that can be done.
        if os.path.lexists(path):
            raise FileExistsError(
                f"{path} already exists (another process created it meanwhile); "
                "pass overwrite=True to replace it."
            ) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _check_regular(path, expected):
    """Refuse, before opening it, anything that is not a regular file.

    A FIFO or a terminal would block the read forever and a device such as
    ``/dev/zero`` never ends; a pipe (``/dev/stdin`` fed by ``|``) cannot be
    memory-mapped or read twice.  ``expected`` says what the file should be.
    Missing files and directories are left to the caller's own messages.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return
    kind = (
        "a pipe (FIFO)"
        if stat.S_ISFIFO(mode)
        else "a character device"
        if stat.S_ISCHR(mode)
        else "a block device"
        if stat.S_ISBLK(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    raise ValueError(
        f"{display_name(path)} is {kind}, not a regular file; {expected} are read "
        "from regular files only (save a pipe's content to a file first)."
    )


def display_name(path):
    r"""Return a file name fit to print: control and bidi characters escaped.

    A newline, an escape sequence or a right-to-left override in a file name
    would otherwise forge lines or reorder what the terminal or page shows.

    >>> from calibrate.io import display_name
    >>> print(display_name("a\nwrote b.npy"), display_name("x/\u202egnp.exe"))
    a\nwrote b.npy x/\u202egnp.exe
    """
    from calibrate._text import escape_controls

    return escape_controls(os.fsdecode(os.fspath(path)))


# ------------------------------------------------------------------- arrays
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_NO_PICKLE = (
    "calibrate never unpickles files (loading a pickle can run arbitrary "
    "code); save a numeric array with numpy.save or numpy.savez"
)


def split_array_spec(spec):
    """Split an array argument ``"file.npy"`` or ``"file.npz:key"``.

    A name is a path as it stands when a file of that name exists.  Otherwise
    the key is what follows the last ``.npz:`` (any case), so a key may hold
    colons; failing that, what follows the last ``:`` when the text before it
    is an existing file (a ``.npy`` file given a key, which
    :func:`load_array` then refuses by name).

    Parameters
    ----------
    spec : str or os.PathLike
        The argument.

    Returns
    -------
    path : str
        The file.
    key : str or None
        The member of an ``.npz`` archive, or None.

    Examples
    --------
    >>> from calibrate.io import split_array_spec
    >>> split_array_spec("val.npz:logits")
    ('val.npz', 'logits')
    >>> split_array_spec("runs/12:30/val.npy")
    ('runs/12:30/val.npy', None)
    """
    spec = os.fsdecode(os.fspath(spec))
    if os.path.exists(spec):
        return spec, None
    at = spec.lower().rfind(".npz:")
    if at >= 0:
        return spec[: at + 4], spec[at + 5 :]
    # "file.npy:key" names an existing file with a key it cannot have; split
    # it so that the error says so instead of "no such file".
    path, sep, key = spec.rpartition(":")
    if sep and os.path.isfile(path):
        return path, key
    return spec, None


def load_array(spec, *, mmap=True):
    """Load one array from a ``.npy`` file or a member of an ``.npz`` archive.

    Nothing is ever unpickled: the file type is told by its first bytes, a
    pickle or an array of Python objects is refused with a message saying
    why, and :func:`numpy.load` always runs with ``allow_pickle=False``.

    Parameters
    ----------
    spec : str or os.PathLike
        ``"file.npy"``, or ``"file.npz:key"`` for the array ``key`` of an
        archive written by :func:`numpy.savez` (see :func:`split_array_spec`).
    mmap : bool, default=True
        Memory-map a ``.npy`` file read-only instead of reading it, so that an
        array larger than memory can be processed chunk by chunk.  Members of
        an ``.npz`` archive are always read into memory (they may be
        compressed), as are empty arrays.

    Returns
    -------
    ndarray
        The array (a read-only :class:`numpy.memmap` for a mapped ``.npy``).

    Raises
    ------
    FileNotFoundError, IsADirectoryError, PermissionError
        When the file cannot be opened; the message names it.
    ValueError
        ``"<file>: <problem>"`` for a pickle, an object array, a file that is
        neither ``.npy`` nor ``.npz``, a truncated or corrupted file, an
        ``.npz`` named without a key (the message lists the keys), a key the
        archive does not hold, or a key given for a ``.npy`` file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from calibrate.io import load_array
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "outputs.npz")
    ...     np.savez(path, logits=np.zeros((4, 3)), labels=np.arange(4) % 3)
    ...     print(load_array(path + ":labels"))
    ...     load_array(path)
    Traceback (most recent call last):
    ...
    ValueError: ...outputs.npz is an .npz archive holding 2 arrays ...:KEY.
    """
    path, key = split_array_spec(spec)
    _check_regular(path, ".npy and .npz arrays")
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file.") from None
    except IsADirectoryError:
        raise IsADirectoryError(
            f"{path}: is a directory, not a .npy or .npz file."
        ) from None
    except PermissionError:
        raise PermissionError(f"{path}: permission denied.") from None
    if magic.startswith(_NPY_MAGIC):
        if key is not None:
            raise ValueError(
                f"{path} is a .npy file holding one array; ':{key}' selects a "
                "member of an .npz archive only."
            )
        return _load_npy(path, mmap=mmap)
    if magic[:4] in _ZIP_MAGICS:
        return _load_npz_member(path, key)
    if magic[:1] == b"\x80":
        raise ValueError(
            f"{path} is a Python pickle, not a .npy or .npz file; {_NO_PICKLE}."
        )
    what = "an empty file" if not magic else f"it starts with {magic!r}"
    raise ValueError(f"{path} is not a .npy or .npz file ({what}).")


def _read_npy_header(f):
    """Read the header of a ``.npy`` stream: ``(shape, dtype, header bytes)``."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    return shape, dtype, f.tell()


def _check_declared_size(what, shape, dtype, available, where):
    """Refuse a header whose shape needs more bytes than ``available``.

    The header is all numpy reads before it allocates the whole array: a
    tiny file declaring a shape of 10^6 x 10^6 would otherwise end in a
    ``MemoryError`` (or in the kernel killing the process).
    """
    declared = math.prod(shape) * dtype.itemsize
    if declared > available:
        raise ValueError(
            f"{what}: its header declares shape {tuple(shape)} of {dtype} "
            f"({declared:,} bytes) but {where} holds only {available:,} bytes "
            "after it; it is truncated or its header is wrong."
        )


def _load_npy(path, *, mmap):
    try:
        with open(path, "rb") as f:
            shape, dtype, offset = _read_npy_header(f)
            size = os.fstat(f.fileno()).st_size
    except (ValueError, EOFError, OSError) as exc:
        raise ValueError(f"{path}: not a readable .npy file ({exc}).") from None
    if dtype.hasobject:
        raise ValueError(
            f"{path} holds an array of Python objects (dtype {dtype}), which "
            f"only unpickling could read; {_NO_PICKLE}."
        )
    _check_declared_size(
        f"{path}: not a readable .npy file",
        shape,
        dtype,
        max(size - offset, 0),
        "the file",
    )
    mmap_mode = "r" if mmap and math.prod(shape) > 0 else None
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        raise ValueError(
            f"{path}: not a readable .npy file ({exc}); it may be truncated."
        ) from None


def _load_npz_member(path, key):
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a readable .npz archive ({exc}).") from None
    with archive:
        keys = archive.files
        listed = ", ".join(map(repr, keys))
        if key is None:
            raise ValueError(
                f"{path} is an .npz archive holding {len(keys)} arrays ({listed}); "
                f"name one as {path}:KEY."
            )
        if key not in keys:
            raise ValueError(
                f"{path} has no array {key!r}; it holds {listed}."
                if keys
                else f"{path} is an empty .npz archive; it has no array {key!r}."
            )
        _check_npz_member(path, archive.zip, key)
        try:
            return archive[key]
        except ValueError as exc:
            if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
                raise ValueError(
                    f"{path}:{key} holds an array of Python objects, which only "
                    f"unpickling could read; {_NO_PICKLE}."
                ) from None
            raise ValueError(f"{path}:{key}: not a readable array ({exc}).") from None
        except (EOFError, OSError, zipfile.BadZipFile) as exc:
            raise ValueError(
                f"{path}:{key}: not a readable array ({exc}); the archive may be "
                "truncated."
            ) from None


#: An ``.npz`` member larger than :data:`NPZ_RATIO_FREE_BYTES` once inflated
#: may inflate to at most this many times its compressed size.  Real scores
#: and labels compress by 1.1 to about 20 times; a zip bomb, by up to 1,032
#: (deflate's limit).
NPZ_MAX_RATIO = 100
#: Members that inflate to at most this many bytes (256 MiB) are read whatever
#: their ratio: that much memory is no attack.
NPZ_RATIO_FREE_BYTES = 2**28


def _check_npz_member(path, archive, key):
    """Refuse, before numpy allocates it, a member that cannot be what it says.

    numpy allocates a member's whole array from its header, then inflates
    the data into it.  Checked first, from the zip directory and the header
    alone: the compressed size fits in the file; the member inflates to at
    most :data:`NPZ_MAX_RATIO` times its compressed size (beyond
    :data:`NPZ_RATIO_FREE_BYTES`); and the shape and dtype of its header fit
    in what it inflates to.  The messages name the member.
    """
    name = f"{path}:{key}"
    members = {info.filename: info for info in archive.infolist()}
    info = members.get(f"{key}.npy", members.get(key))
    if info is None:
        return
    archive_size = os.path.getsize(path)
    if info.compress_size > archive_size:
        raise ValueError(
            f"{name}: the archive's directory gives the member "
            f"{info.compress_size:,} compressed bytes, more than the whole file "
            f"({archive_size:,}); the archive is corrupted."
        )
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > NPZ_RATIO_FREE_BYTES and ratio > NPZ_MAX_RATIO:
        raise ValueError(
            f"{name} would inflate from {info.compress_size:,} to "
            f"{info.file_size:,} bytes, {ratio:,.0f} times, more than the "
            f"{NPZ_MAX_RATIO} times allowed for members over "
            f"{NPZ_RATIO_FREE_BYTES:,} bytes (a zip bomb looks like this); if "
            "the array is real, save it with numpy.save or numpy.savez "
            "(uncompressed)."
        )
    try:
        with archive.open(info) as f:
            shape, dtype, offset = _read_npy_header(f)
    except (ValueError, EOFError, OSError, zipfile.BadZipFile):
        return  # numpy's own reading says what is wrong, by name
    if not dtype.hasobject:
        _check_declared_size(
            f"{name}: not a readable array",
            shape,
            dtype,
            max(info.file_size - offset, 0),
            "the member",
        )


def save_array(path, array, *, overwrite=False):
    """Write an array to a ``.npy`` file atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination, written as given (no ``.npy`` is appended).
    array : array_like
        Numbers; arrays of Python objects are refused, since reading them back
        would need unpickling.
    overwrite : bool, default=False
        Replace ``path`` if it exists; otherwise :class:`FileExistsError`.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    ValueError
        If ``array`` holds Python objects.

    See Also
    --------
    atomic_write : How the file is replaced.
    load_array : Read it back.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from calibrate.io import load_array, save_array
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "probs.npy")
    ...     save_array(path, np.eye(2))
    ...     print(np.asarray(load_array(path)))
    [[1. 0.]
     [0. 1.]]
    """
    array = np.asanyarray(array)
    if array.dtype.hasobject:
        raise ValueError(
            f"cannot save an array of Python objects (dtype {array.dtype}) to "
            f"{os.fsdecode(os.fspath(path))}; it could only be read back by "
            "unpickling."
        )
    with atomic_write(path, "wb", overwrite=overwrite) as f:
        np.lib.format.write_array(f, array, allow_pickle=False)


def _encode_param(value, what):
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return _encode_float(value, what)
    if isinstance(value, (list, tuple)):
        return [_encode_param(v, f"{what}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, BaseCalibrator):
        method = registered_name(value)
        if method is None:
            raise TypeError(
                f"{what} is a {type(value).__name__}, which is not registered; "
                "only registered calibrators can be saved as parameters."
            )
        name = type(value).__name__
        return {
            "calibrator": {
                "method": method,
                "class": name,
                "params": _encode_params(value, name),
            }
        }
    raise TypeError(
        f"{what} is {value!r} ({type(value).__name__}); only None, booleans, "
        "numbers, strings, lists of them and registered calibrators can be saved."
    )


def _encode_float(value, what):
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{what} must be a real number; got {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{what} is {value!r}; only finite numbers can be saved.")
    return value


def _encode_int(value, what):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be an integer; got {value!r}.")
    return int(value)


def _encode_array(value, what, dtypes):
    arr = np.asarray(value)
    if arr.dtype.kind in "UO" and all(isinstance(v, str) for v in arr.flat):
        dtype, data = "str", np.vectorize(str, otypes=[object])(arr).tolist()
    else:
        dtype, data = arr.dtype.name, arr.tolist()
    if dtype not in dtypes:
        raise TypeError(
            f"{what} has dtype {arr.dtype}, which cannot be saved; supported: "
            f"{', '.join(dtypes)}."
        )
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{what} contains NaN or infinite values; cannot save it.")
    return {"dtype": dtype, "shape": list(arr.shape), "data": data}


# ------------------------------------------------------------------ reading
class _HugeNumber(ValueError):
    """An integer literal too long to be a model's number."""


def _bounded_int(text):
    """Parse a JSON integer of at most 4,000 digits (below Python's 4,300 limit)."""
    digits = len(text.lstrip("-"))
    if digits > 4000:
        raise _HugeNumber(f"holds an integer of {digits} digits")
    return int(text)


def load_calibrator(path):
    """Load a calibrator saved by :func:`save_calibrator`.

    The file is parsed with :func:`json.load` and nothing else; see
    :func:`calibrator_from_dict` for what is checked.

    Parameters
    ----------
    path : str or os.PathLike
        The JSON file.

    Returns
    -------
    estimator
        A fitted calibrator that predicts exactly what the saved one did.

    Raises
    ------
    FileNotFoundError, OSError
        If the file cannot be opened.
    ValueError
        If the file is not UTF-8 JSON (for example truncated), contains NaN or
        infinite numbers or duplicate keys, or is not a valid saved calibrator.
        The message names the file and the problem.

    See Also
    --------
    save_calibrator : Write the file.
    calibrator_from_dict : The same check on a dictionary.

    Examples
    --------
    >>> import os, tempfile
    >>> from calibrate.io import load_calibrator
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "model.json")
    ...     with open(path, "w") as f:
    ...         _ = f.write('{"format": "calibrate.calibrator", "format_version": 9}')
    ...     load_calibrator(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: .../model.json: format_version 9 is newer than ... supports (2)...
    """
    source = os.fsdecode(os.fspath(path))
    _check_regular(source, "saved calibrators (JSON)")
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(
                f,
                parse_constant=_reject_constant,
                parse_int=_bounded_int,
                object_pairs_hook=_unique_keys,
            )
    except FileNotFoundError:
        raise FileNotFoundError(f"{source}: no such file.") from None
    except IsADirectoryError:
        raise IsADirectoryError(
            f"{source}: is a directory, not a saved calibrator."
        ) from None
    except PermissionError:
        raise PermissionError(f"{source}: permission denied.") from None
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{source}: not a valid JSON document ({exc}); the file may be "
            "truncated, or is not a saved calibrator."
        ) from None
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{source}: not UTF-8 text ({exc}); a saved calibrator is a JSON file."
        ) from None
    except RecursionError:
        raise ValueError(
            f"{source}: JSON nested too deeply to be a saved calibrator."
        ) from None
    except _HugeNumber as exc:
        raise ValueError(f"{source}: {exc}; not a saved calibrator.") from None
    except _Malformed as exc:
        raise ValueError(f"{source}: {exc}") from None
    return calibrator_from_dict(doc, source=source)


def _reject_constant(name):
    raise _Malformed(
        f"the JSON contains {name}; a saved calibrator holds finite numbers only."
    )


def _unique_keys(pairs):
    doc = {}
    for key, value in pairs:
        if key in doc:
            raise _Malformed(f"the JSON repeats the key {key!r} in one object.")
        doc[key] = value
    return doc


def calibrator_from_dict(doc, *, source="<dict>"):
    """Build a fitted calibrator from a dictionary made by :func:`calibrator_to_dict`.

    Nothing is imported or called by name: the class is looked up among the
    registered calibrators, the parameters must be ones the class accepts, and
    every fitted attribute is checked before the estimator is built.

    Parameters
    ----------
    doc : dict
        The document, for example from ``json.load``.
    source : str, default="<dict>"
        Where ``doc`` came from, to start error messages with (a file name).

    Returns
    -------
    estimator
        The fitted calibrator.

    Raises
    ------
    ValueError
        ``"<source>: <problem>"`` when ``doc`` is not a valid saved calibrator:
        not an object; a missing or wrong ``format``; a ``format_version`` that
        is not an integer or is newer than :data:`FORMAT_VERSION`; a ``class``
        that is not registered; ``params`` the class does not accept or of the
        wrong kind, or an invalid ``input_type``; ``fitted`` with missing or
        unexpected attributes; an array with a dtype outside those allowed for
        it, data that do not match its shape, or NaN/infinite values; a
        ``task_`` the class does not support; ``n_features_in_`` or
        ``n_iter_`` that are not non-negative integers or do not fit the task;
        ``classes_`` or ``feature_names_in_`` of the wrong length; parameters
        whose shapes differ from the class's; a temperature that is not
        positive.

    Examples
    --------
    >>> import numpy as np
    >>> from calibrate import PlattScaling
    >>> from calibrate.io import calibrator_from_dict, calibrator_to_dict
    >>> rng = np.random.default_rng(0)
    >>> logits = rng.normal(size=200) * 3
    >>> labels = np.where(logits / 2 + rng.logistic(size=200) > 0, "spam", "ham")
    >>> cal = PlattScaling().fit(logits, labels)
    >>> copy = calibrator_from_dict(calibrator_to_dict(cal))
    >>> copy.classes_
    array(['ham', 'spam'], dtype='<U4')
    >>> bool(np.array_equal(copy.predict(logits), cal.predict(logits)))
    True
    >>> calibrator_from_dict({**calibrator_to_dict(cal), "class": "os.system"})
    Traceback (most recent call last):
    ...
    ValueError: <dict>: unknown calibrator class 'os.system'; known classes: ...
    """
    try:
        return _decode(doc)
    except _Malformed as exc:
        raise ValueError(f"{source}: {exc}") from None


def _decode(doc):
    if not isinstance(doc, dict):
        raise _Malformed(
            f"the top level is {_json_kind(doc)}, not a JSON object; this is not "
            "a saved calibrator."
        )
    if "format" not in doc:
        raise _Malformed(
            f"no 'format' field; this is not a saved calibrator ({FORMAT!r})."
        )
    if doc["format"] != FORMAT:
        raise _Malformed(
            f"'format' is {doc['format']!r}, expected {FORMAT!r}; this is not a "
            "saved calibrator."
        )
    version = doc.get("format_version")
    if not _is_int(version):
        raise _Malformed(f"format_version must be an integer; got {version!r}.")
    if version > FORMAT_VERSION:
        raise _Malformed(
            f"format_version {version} is newer than this version of calibrate "
            f"supports ({FORMAT_VERSION}); it was written by calibrate "
            f"{doc.get('library_version')!r}, this is {calibrate.__version__}. "
            "Upgrade calibrate to load it."
        )
    if version < 1:
        raise _Malformed(f"format_version {version} is not a valid version (>= 1).")
    _check_keys(
        doc, _TOP_LEVEL_KEYS if version == 1 else _TOP_LEVEL_KEYS_V2, (), "the document"
    )
    if not isinstance(doc["library_version"], str):
        raise _Malformed(
            f"library_version must be a string; got {doc['library_version']!r}."
        )

    cls = _resolve_class(doc["class"], doc.get("method"), version=version)
    params = _decode_params(cls, doc["params"])
    # input_type changes what predict does with its input, so it is checked
    # here; the other parameters only matter to a later refit, which checks them.
    if "input_type" in params and params["input_type"] not in INPUT_TYPES:
        raise _Malformed(
            f"parameter 'input_type' must be one of {INPUT_TYPES}; got "
            f"{params['input_type']!r}."
        )
    calibrator = cls(**params)
    for key, value in _decode_fitted(calibrator, doc["fitted"]).items():
        setattr(calibrator, key, value)
    return calibrator


def _known_names():
    return sorted(cls.__name__ for cls in CALIBRATORS.values())


def _resolve_class(name, method=None, *, version=2):
    """Return the registered class: by ``method`` (v2), else by ``class``."""
    by_name = {cls.__name__: cls for cls in CALIBRATORS.values()}
    if not isinstance(name, str) or name not in by_name:
        of = f" (method {method!r})" if isinstance(method, str) else ""
        raise _Malformed(
            f"unknown calibrator class {name!r}; known classes: "
            f"{', '.join(_known_names())} (a calibrator from outside calibrate "
            "must be registered with calibrate.calibrators.register before its "
            "file is loaded)" + of + "."
        )
    if version == 1:
        return by_name[name]
    if not isinstance(method, str) or method not in CALIBRATORS:
        raise _Malformed(
            f"unknown calibrator method {method!r}; registered methods: "
            f"{', '.join(CALIBRATORS)}."
        )
    cls = CALIBRATORS[method]
    if name != cls.__name__:
        raise _Malformed(
            f"class is {name!r}, but the method {method!r} is registered as "
            f"{cls.__name__}."
        )
    return cls


def _decode_params(cls, params):
    if not isinstance(params, dict):
        raise _Malformed(f"'params' must be a JSON object; got {_json_kind(params)}.")
    defaults = cls().get_params(deep=False)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise _Malformed(
            f"{cls.__name__} has no parameter {', '.join(map(repr, unknown))}; its "
            f"parameters are {', '.join(sorted(defaults))}."
        )
    # Parameters missing from the document keep their defaults, so a file
    # written before a parameter was added still loads as it was fitted.
    out = {}
    for key, value in params.items():
        value = _decode_param(value, key, cls)
        kind = _param_kind(value)
        default = defaults[key]
        # A parameter whose default is None may hold any JSON value or a
        # calibrator; one whose default is a string other than ``input_type``
        # (such as "auto") may also hold a number or a list.
        if default is None:
            expected, allowed = "a JSON value or a calibrator", None
        elif isinstance(default, str) and key != "input_type":
            expected = "a number, a string or a list"
            allowed = {"a number", "a string", "a list"}
        else:
            expected = _param_kind(default)
            allowed = {expected}
        if kind is None or (allowed is not None and kind not in allowed):
            raise _Malformed(
                f"parameter {key!r} of {cls.__name__} must be {expected}; got "
                f"{value!r}."
            )
        out[key] = value
    return out


def _decode_param(value, key, cls):
    """Return a JSON parameter as the constructor takes it (calibrators built)."""
    if isinstance(value, list):
        return [_decode_param(v, f"{key}[{i}]", cls) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if set(value) != {"calibrator"} or not isinstance(value["calibrator"], dict):
            raise _Malformed(
                f"parameter {key!r} of {cls.__name__} is an object with keys "
                f"{sorted(value)!r}; the only object a parameter may hold is "
                '{"calibrator": {"method", "class", "params"}}.'
            )
        inner = value["calibrator"]
        _check_keys(inner, ("method", "class", "params"), (), f"parameter {key!r}")
        inner_cls = _resolve_class(inner["class"], inner["method"])
        inner_params = _decode_params(inner_cls, inner["params"])
        return inner_cls(**inner_params)
    if isinstance(value, float) and not math.isfinite(value):
        raise _Malformed(f"parameter {key!r} is {value!r}, not a finite number.")
    return value


def _param_kind(value):
    if value is None:
        return "null"
    if isinstance(value, BaseCalibrator):
        return "a calibrator"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return None


def _decode_fitted(calibrator, fitted):
    cls = type(calibrator)
    if not isinstance(fitted, dict):
        raise _Malformed(f"'fitted' must be a JSON object; got {_json_kind(fitted)}.")
    _check_keys(
        fitted,
        _COMMON_FITTED + tuple(cls._fitted_parameters),
        _OPTIONAL_FITTED,
        f"'fitted' of {cls.__name__}",
    )

    task = fitted["task_"]
    if task not in TASKS:
        raise _Malformed(f"task_ must be one of {TASKS}; got {task!r}.")
    if task not in cls._supported_tasks:
        raise _Malformed(
            f"{cls.__name__} supports {', '.join(cls._supported_tasks)} input; "
            f"task_ is {task!r}."
        )
    n_features = _non_negative_int(fitted, "n_features_in_")
    if (task == "binary") != (n_features == 1) or n_features == 0:
        raise _Malformed(
            f"n_features_in_={n_features} does not fit task_={task!r} (binary "
            "scores have one column, multiclass and multilabel scores at least two)."
        )
    values = {"task_": task, "n_features_in_": n_features}
    if "n_iter_" in fitted:
        values["n_iter_"] = _non_negative_int(fitted, "n_iter_")

    classes = _decode_array(fitted["classes_"], "classes_", _CLASSES_DTYPES, ndim=1)
    n_classes = 2 if task == "binary" else n_features
    if len(classes) != n_classes:
        raise _Malformed(
            f"classes_ has {len(classes)} labels, but a {task} calibrator with "
            f"n_features_in_={n_features} has {n_classes}."
        )
    labels, counts = np.unique(classes, return_counts=True)
    if (counts > 1).any():
        raise _Malformed(
            f"classes_ repeats the label {labels[counts > 1][0].item()!r}: "
            f"{classes.tolist()!r}."
        )
    if classes.dtype.kind == "f" and (classes != np.round(classes)).any():
        # fit reads float labels only when they are whole numbers (3.0 is
        # class 3); 3.5 is no class, and would never match integer labels.
        value = classes[classes != np.round(classes)][0].item()
        raise _Malformed(
            f"classes_ holds {value!r}, which is not a class label: labels are "
            "integers, strings or booleans, and float labels whole numbers."
        )
    values["classes_"] = classes

    if "feature_names_in_" in fitted:
        names = _decode_array(
            fitted["feature_names_in_"], "feature_names_in_", _NAMES_DTYPES, ndim=1
        )
        if len(names) != n_features:
            raise _Malformed(
                f"feature_names_in_ has {len(names)} names but n_features_in_ is "
                f"{n_features}."
            )
        # scikit-learn stores column names as an object array of str.
        values["feature_names_in_"] = names.astype(object)

    # The expected shapes depend on the task and the number of columns.
    calibrator.task_, calibrator.n_features_in_ = task, n_features
    shapes = calibrator._parameter_shapes()
    for key in cls._fitted_parameters:
        value = _decode_state(fitted[key], shapes[key], key, cls, task, n_features)
        if key in _POSITIVE_PARAMETERS and not value > 0:
            raise _Malformed(f"{key} must be > 0; got {value!r}.")
        values[key] = value
    return values


def _decode_state(entry, shape, what, cls, task, n_features):
    """Decode one fitted attribute and check it against its declared ``shape``."""
    if isinstance(shape, list):
        if not isinstance(entry, list) or len(entry) != len(shape):
            raise _Malformed(
                f"{what} must be a list of {len(shape)} arrays for a {cls.__name__} "
                f"with task_={task!r} and n_features_in_={n_features}; got "
                f"{_json_kind(entry)}"
                + (f" of length {len(entry)}" if isinstance(entry, list) else "")
                + "."
            )
        return [
            _decode_state(e, s, f"{what}[{i}]", cls, task, n_features)
            for i, (e, s) in enumerate(zip(entry, shape, strict=True))
        ]
    if shape == ():
        return _decode_number(entry, what)
    ndim = None if shape is None else len(shape)
    value = _decode_array(entry, what, _PARAMETER_DTYPES, ndim=ndim)
    if not _shape_fits(value.shape, shape):
        raise _Malformed(
            f"{what} has shape {value.shape}, but a {cls.__name__} with "
            f"task_={task!r} and n_features_in_={n_features} needs "
            f"{_shape_text(shape)}."
        )
    return value


def _check_keys(obj, required, optional, what):
    missing = [key for key in required if key not in obj]
    unexpected = sorted(set(obj) - set(required) - set(optional))
    if missing or unexpected:
        problems = []
        if missing:
            problems.append(f"missing {', '.join(map(repr, missing))}")
        if unexpected:
            problems.append(f"unexpected {', '.join(map(repr, unexpected))}")
        optional = f"; optional: {', '.join(optional)}" if optional else ""
        raise _Malformed(
            f"{what} has {' and '.join(problems)} (expected: "
            f"{', '.join(required)}{optional})."
        )


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _non_negative_int(fitted, key):
    value = fitted[key]
    if not _is_int(value) or value < 0:
        raise _Malformed(f"{key} must be a non-negative integer; got {value!r}.")
    return value


def _decode_number(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Malformed(f"{what} must be a number; got {value!r}.")
    try:
        value = float(value)
    except OverflowError:  # an integer beyond the float range
        value = math.inf
    if not math.isfinite(value):
        raise _Malformed(f"{what} is {value!r}, not a finite number.")
    return value


def _decode_array(entry, what, dtypes, *, ndim):
    if not isinstance(entry, dict):
        raise _Malformed(
            f"{what} must be an array entry, an object with 'dtype', 'shape' and "
            f"'data'; got {_json_kind(entry)}."
        )
    _check_keys(entry, ("dtype", "shape", "data"), (), what)
    dtype, shape = entry["dtype"], entry["shape"]
    if dtype not in dtypes:
        raise _Malformed(f"{what} has dtype {dtype!r}; allowed: {', '.join(dtypes)}.")
    if (
        not isinstance(shape, (list, tuple))
        or not all(_is_int(n) and n >= 0 for n in shape)
        or (ndim is not None and len(shape) != ndim)
    ):
        count = "" if ndim is None else f"{ndim} "
        raise _Malformed(
            f"{what} shape must be a list of {count}non-negative integers; got "
            f"{shape!r}."
        )
    check = _leaf_check(dtype)
    flat = []
    _flatten(entry["data"], tuple(shape), (), flat, check, what)
    return np.array(flat, dtype=str if dtype == "str" else dtype).reshape(shape)


def _flatten(data, shape, index, out, check, what):
    """Append the leaves of nested lists ``data`` to ``out``, checking ``shape``."""
    depth = len(index)
    if depth == len(shape):
        problem = check(data)
        if problem:
            raise _Malformed(f"{what} data{list(index)} is {data!r}; {problem}.")
        out.append(data)
        return
    if not isinstance(data, (list, tuple)) or len(data) != shape[depth]:
        got = f"length {len(data)}" if isinstance(data, (list, tuple)) else repr(data)
        raise _Malformed(
            f"{what} data do not match the declared shape {list(shape)}: at "
            f"{list(index)} expected a list of length {shape[depth]}, got {got}."
        )
    for i, item in enumerate(data):
        _flatten(item, shape, (*index, i), out, check, what)


def _leaf_check(dtype):
    """Return ``check(value) -> problem or None`` for one element of ``dtype``."""
    if dtype == "str":
        return lambda v: None if isinstance(v, str) else "expected a string"
    if dtype == "bool":
        return lambda v: None if isinstance(v, bool) else "expected true or false"
    if dtype in _INTEGER_DTYPES:
        info = np.iinfo(dtype)

        def check_int(v):
            if not _is_int(v):
                return "expected an integer"
            if not info.min <= v <= info.max:
                return f"outside the range of {dtype}"
            return None

        return check_int

    def check_float(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return "expected a number"
        try:
            finite = math.isfinite(float(v))
        except OverflowError:
            finite = False
        return None if finite else "expected a finite number"

    return check_float


def _json_kind(value):
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"
