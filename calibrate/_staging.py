"""Write a directory of files so that it appears whole or not at all.

:func:`staged_directory` gives the caller an empty temporary directory beside
the destination; only when every file in it is complete are they moved into
the destination.  On any failure (a full disk, an exception, SIGTERM or
SIGHUP turned into an exception by the command) the temporary directory is
removed and the destination is left as it was.
"""

import contextlib
import errno
import os
import secrets
import shutil
import signal
from pathlib import Path

__all__ = ["staged_directory"]


@contextlib.contextmanager
def staged_directory(destination, *, overwrite=False):
    """Yield a temporary directory whose files become ``destination``'s on success.

    The temporary directory is ``.NAME.<hex>.tmp`` inside the destination
    when that exists, else in its parent (so that moving it in is a rename
    on one file system); the parent is created if needed, and removed again
    on failure if it was created here.  When the body finishes:

    - a destination that does not exist (or is an empty directory) is
      replaced by the temporary directory in one rename;
    - a destination whose every entry is one of the new files (an earlier
      report, with ``overwrite``) is renamed aside, the temporary directory
      renamed in, and the old one removed: the old files stay whole until
      the new ones are all complete, and at every moment the destination
      holds either all old or all new files;
    - a destination that holds other files as well (a folder of your own)
      keeps them: each new file is renamed over its old namesake (with
      ``overwrite``) or linked in without replacing one, so each file is
      either old or new.

    SIGTERM and SIGHUP are held back during those renames (where the system
    can), so a signal cannot stop them half-way; SIGKILL cannot be held and
    may leave the ``.tmp`` directory behind.

    Parameters
    ----------
    destination : str or path-like
        The directory to fill.
    overwrite : bool, default=False
        Replace existing files of the same names; otherwise such a file is
        a :class:`FileExistsError`, raised before anything is moved.

    Yields
    ------
    pathlib.Path
        The empty temporary directory to write into.

    Raises
    ------
    FileExistsError
        If a file to be written exists and ``overwrite`` is False.
    NotADirectoryError
        If ``destination`` exists and is not a directory.
    OSError
        If a file cannot be written or moved; a file named in the error is
        named by its place in ``destination``, not in the temporary
        directory.

    Examples
    --------
    >>> import os, tempfile
    >>> from calibrate._staging import staged_directory
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = os.path.join(tmp, "report")
    ...     try:
    ...         with staged_directory(out) as stage:
    ...             _ = (stage / "a.txt").write_text("complete")
    ...             raise OSError(28, "No space left on device")
    ...     except OSError:
    ...         pass
    ...     print(os.listdir(tmp))
    ...     with staged_directory(out) as stage:
    ...         _ = (stage / "a.txt").write_text("complete")
    ...     print(os.listdir(tmp), os.listdir(out))
    []
    ['report'] ['a.txt']
    """
    destination = os.path.abspath(os.fsdecode(os.fspath(destination)))
    if os.path.lexists(destination) and not os.path.isdir(destination):
        raise NotADirectoryError(
            errno.ENOTDIR, "exists and is not a directory", destination
        )
    parent, name = os.path.split(destination)
    created = _make_parents(parent)
    stage = None
    try:
        # Inside an existing destination (whose parent need not be
        # writable, as for -o .), else beside it: on the same file system.
        base = destination if os.path.isdir(destination) else parent
        stage = os.path.join(base, f".{name or 'out'}.{secrets.token_hex(6)}.tmp")
        os.mkdir(stage)
        try:
            yield Path(stage)
        except OSError as exc:
            raise _renamed(exc, stage, destination) from exc
        with _signals_held():
            _move_in(stage, destination, overwrite)
    except BaseException:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        for folder in created:
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        raise


def _make_parents(parent):
    """Create ``parent`` and its missing ancestors; return them, deepest first."""
    missing = []
    folder = parent
    while not os.path.lexists(folder):
        missing.append(folder)
        up = os.path.dirname(folder)
        if up == folder:
            break
        folder = up
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder)
    return missing


def _renamed(exc, stage, destination):
    """Return ``exc`` naming files by their place in ``destination``."""
    filename = getattr(exc, "filename", None)
    if not isinstance(filename, str) or not filename.startswith(stage):
        return exc
    shown = destination + filename[len(stage) :]
    return type(exc)(exc.errno, exc.strerror or str(exc), shown)


@contextlib.contextmanager
def _signals_held():
    """Hold SIGTERM and SIGHUP back (delivered on exit) where the system can."""
    held = {getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)}
    if not held or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _move_in(stage, destination, overwrite):
    new = sorted(os.listdir(stage))
    inside = os.path.dirname(stage) == destination
    try:
        old = [e for e in os.listdir(destination) if e != os.path.basename(stage)]
    except FileNotFoundError:
        old = None
    if old is not None:
        clashes = sorted(set(old) & set(new))
        if clashes and not overwrite:
            raise FileExistsError(
                errno.EEXIST,
                "already exists (created meanwhile); pass --force to replace it",
                os.path.join(destination, clashes[0]),
            )
    if old is None or (not old and not inside):
        # Absent, or an empty directory (which rename replaces).
        _rename_whole(stage, destination, overwrite)
    elif set(old) <= set(new) and _swap(stage, destination, inside):
        pass
    else:
        _merge(stage, destination, new, overwrite)


def _rename_whole(stage, destination, overwrite):
    try:
        os.rename(stage, destination)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
            # Someone filled the destination meanwhile: move file by file.
            _merge(stage, destination, sorted(os.listdir(stage)), overwrite)
            return
        raise


def _swap(stage, destination, inside):
    """Rename the old directory aside and the new one in; False if not possible.

    Renaming the destination needs a writable parent; where it has none
    (the caller then moves the files in one by one) nothing has changed.
    """
    parent, name = os.path.split(destination)
    aside = os.path.join(parent, f".{name}.{secrets.token_hex(6)}.old")
    with contextlib.suppress(OSError):
        shutil.copymode(destination, stage)
    try:
        os.rename(destination, aside)
    except OSError:
        return False
    staged = os.path.join(aside, os.path.basename(stage)) if inside else stage
    try:
        os.rename(staged, destination)
    except BaseException:
        os.rename(aside, destination)
        raise
    shutil.rmtree(aside, ignore_errors=True)
    return True


def _merge(stage, destination, names, overwrite):
    linked = []
    try:
        for entry in names:
            source = os.path.join(stage, entry)
            target = os.path.join(destination, entry)
            if overwrite:
                os.replace(source, target)
            else:
                _link_new(source, target)
                linked.append(target)
    except BaseException:
        # Without overwrite nothing old was replaced: take back what was added.
        for target in linked:
            with contextlib.suppress(OSError):
                os.unlink(target)
        raise
    shutil.rmtree(stage, ignore_errors=True)


def _link_new(source, target):
    """Put ``source`` at ``target`` without replacing an existing file."""
    try:
        os.link(source, target)
        return
    except FileExistsError:
        pass
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV):
            raise
        # No hard links here (FAT, some network mounts): the existence check
        # just before the rename is all that can be done.
        if not os.path.lexists(target):
            os.rename(source, target)
            return
    raise FileExistsError(
        errno.EEXIST,
        "already exists (created meanwhile); pass --force to replace it",
        target,
    )
