"""Command-line interface: ``calibrate`` (also ``python -m calibrate.cli``).

This directory sits at the top of the repository and installs as
``calibrate.cli``; the console script ``calibrate`` calls :func:`main`.
"""

from calibrate.cli._main import build_parser, main

__all__ = ["build_parser", "main"]
