"""Write matplotlib figures so that the same figure gives the same bytes.

Two saves of one figure differ, by default, in the SVG's clip-path and hatch
ids (salted with a random UUID), in its ``<dc:date>`` and in a PDF's
``/CreationDate``.  :func:`save_figure` fixes the salt and leaves the dates
out, for the files this package writes only: the salt is set with
:func:`matplotlib.rc_context` around the one ``savefig`` call, so the
caller's global ``rcParams`` are never changed.
"""

__all__ = ["save_figure"]

#: A constant salt for the SVG ids: they then follow from the drawing alone.
_SVG_SALT = "calibrate"

#: Per format, the metadata entries that would differ between runs (dates)
#: or between otherwise identical installs (the software stamp), set to
#: None so that matplotlib leaves them out.
_NO_STAMPS = {
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None},
    "png": {"Software": None},
}


def save_figure(fig, file, *, fmt, dpi):
    """Save ``fig`` to ``file`` as ``fmt`` with no date and a fixed SVG salt.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to save.
    file : str, path-like or binary file object
        Where to write.
    fmt : {"svg", "pdf", "png"}
        The file format.
    dpi : float
        Dots per inch (the PNG's size; the vector formats' raster parts).

    Raises
    ------
    ValueError
        If ``fmt`` is not one of the formats above.
    """
    import matplotlib

    if fmt not in _NO_STAMPS:
        raise ValueError(f"fmt must be one of {sorted(_NO_STAMPS)}; got {fmt!r}.")
    with matplotlib.rc_context({"svg.hashsalt": _SVG_SALT}):
        fig.savefig(file, format=fmt, dpi=dpi, metadata=_NO_STAMPS[fmt])
