r"""Show user strings literally: in terminals, HTML, Markdown and matplotlib.

A title, file name or class label comes from the user and is shown as it is,
never interpreted: control characters (a newline that forges a line, an
escape sequence that clears the screen) and Unicode format characters (the
bidirectional overrides that make ``x/\u202egnp.exe`` display as
``x/exe.png``, zero-width characters) are written as visible escapes, a ``$``
is not the start of a formula, and Markdown punctuation is not markup.
"""

import re
import unicodedata

__all__ = ["escape_controls", "escape_markdown", "literal_mathtext"]

# Cc: C0/C1 controls, DEL; Cf: format characters (bidi controls U+202A-U+202E
# and U+2066-U+2069, U+200B-U+200F, U+FEFF, ...); Zl, Zp: line and paragraph
# separators, which some renderers break lines at; Cs: lone surrogates (from
# undecodable file names), which no encoder can write.
_HIDDEN = ("Cc", "Cf", "Zl", "Zp", "Cs")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char):
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape_controls(text, *, keep_newlines=False):
    r"""Replace control and invisible format characters by visible escapes.

    Parameters
    ----------
    text : str
        Any string.
    keep_newlines : bool, default=False
        Leave ``"\n"`` as it is (a caller's own line breaks).

    Returns
    -------
    str
        ``text`` with each control, format (bidi, zero-width), line or
        paragraph separator and lone surrogate character written as ``\n``,
        ``\t``, ``\r``, ``\xNN``, ``\uNNNN`` or ``\UNNNNNNNN``; every other
        character (letters of any script included) as it is.

    Examples
    --------
    >>> from calibrate._text import escape_controls
    >>> print(escape_controls("x/\u202egnp.exe"))
    x/\u202egnp.exe
    >>> print(escape_controls("a\nb\x1b[2J"), escape_controls("Zürich"))
    a\nb\x1b[2J Zürich
    """
    text = str(text)
    if text.isprintable():
        return text
    if keep_newlines:
        return "\n".join(escape_controls(line) for line in text.split("\n"))
    return "".join(
        _escape(c) if unicodedata.category(c) in _HIDDEN else c for c in text
    )


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|$~])")


def escape_markdown(text):
    r"""Escape a user string for Markdown (GitHub's, math included).

    Controls are escaped as :func:`escape_controls` does, then every
    character Markdown may read as markup, ``$`` (GitHub math) included, is
    preceded by a backslash.  ``&`` becomes ``&amp;`` so that no character
    reference is read.

    Examples
    --------
    >>> from calibrate._text import escape_markdown
    >>> print(escape_markdown("cost $5 vs $\\alpha$ | *x*"))
    cost \$5 vs \$\\alpha\$ \| \*x\*
    """
    text = escape_controls(text).replace("&", "&amp;")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def literal_mathtext(text):
    r"""Make matplotlib draw ``text`` as it is, never as mathtext.

    matplotlib reads a string with an even number of unescaped ``$`` as a
    formula (``'cost $5 vs $10'`` would show "cost 5vs10", ``'$\foo{$'``
    would raise a parser error); ``\$`` is its literal dollar.  Controls are
    escaped as :func:`escape_controls` does (newlines kept: they are the
    caller's line breaks).

    Examples
    --------
    >>> from calibrate._text import literal_mathtext
    >>> print(literal_mathtext("cost $5 vs $10"))
    cost \$5 vs \$10
    """
    return escape_controls(text, keep_newlines=True).replace("$", "\\$")
