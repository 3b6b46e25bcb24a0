"""Run the command-line interface: ``python -m calibrate``."""

from calibrate.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
