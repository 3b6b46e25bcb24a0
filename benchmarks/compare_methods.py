"""Every calibration map on the published CIFAR ResNet-110 logits, side by side.

Run by hand: ``python benchmarks/compare_methods.py``.  Fits each registered
map with its defaults on the 5,000 validation rows of the Mukhoti et al.
(2020) logits in ``../shared/data`` and prints the test NLL and top-label ECE
(15 equal-width bins) on the 10,000 test rows, with the validation NLL, the
free-parameter count and the fit time.  Skips with a message when the data
are absent.
"""

import time
import warnings
from pathlib import Path

import numpy as np

from calibrate import CALIBRATORS
from calibrate.calibrators._diagnostics import count_parameters
from calibrate.metrics import expected_calibration_error, negative_log_likelihood

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FILES = {
    "CIFAR-10": "mukhoti_c10_resnet110_brier.npz",
    "CIFAR-100": "mukhoti_c100_resnet110_brier.npz",
}


def main():
    for title, name in FILES.items():
        path = DATA / name
        if not path.exists():
            print(f"{title}: {path} not found, skipped")
            continue
        d = np.load(path)
        z, y, zt, yt = (
            d["val_logits"],
            d["val_labels"],
            d["test_logits"],
            d["test_labels"],
        )
        print(f"{title} ResNet-110: {len(y)} validation, {len(yt)} test rows")
        print(
            f"{'method':14s} {'params':>7s} {'val NLL':>8s} {'test NLL':>9s} "
            f"{'test ECE':>9s} {'fit s':>7s}"
        )
        row = (
            "uncalibrated",
            0,
            negative_log_likelihood(y, z, input_type="logits"),
            negative_log_likelihood(yt, zt, input_type="logits"),
            expected_calibration_error(yt, zt, input_type="logits"),
            0.0,
        )
        print(
            f"{row[0]:14s} {row[1]:7d} {row[2]:8.4f} {row[3]:9.4f} "
            f"{100 * row[4]:8.2f}% {row[5]:7.2f}"
        )
        for method, cls in CALIBRATORS.items():
            cal = cls(input_type="logits")
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cal.fit(z, y)
            seconds = time.perf_counter() - start
            P, Pt = cal.predict_proba(z), cal.predict_proba(zt)
            print(
                f"{method:14s} {count_parameters(cal):7d} "
                f"{negative_log_likelihood(y, P):8.4f} "
                f"{negative_log_likelihood(yt, Pt):9.4f} "
                f"{100 * expected_calibration_error(yt, Pt):8.2f}% {seconds:7.2f}"
            )
        print()


if __name__ == "__main__":
    main()
