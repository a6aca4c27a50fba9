"""Write the calibration file of a machine's built-in dose engines.

Usage, from the repository root::

    python -m tools.kernels.calibrate 6X     # rewrite src/rtplan/dose/machines/6X_calibration.json

Each engine computes the reference field of :mod:`rtplan.dose._calibration` (1 MU
gives 1 cGy at d_max of a 10 x 10 cm² field at SSD 100 cm in water); the file records
the result with the SHA-256 of the kernel tables it was made with.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from rtplan.dose._calibration import calibrate_engine, kernel_digest
from rtplan.dose.machines._model import load_machine
from rtplan.enum import Engine

__all__ = ["calibration", "main"]


def calibration(machine_name: str, engines: Sequence[str]) -> dict[str, Any]:
    """The calibration file's content: every engine run on the reference field."""
    mach = load_machine(machine_name)
    return {
        "machine": mach.name,
        "reference": "10 x 10 cm2 at SSD 100 cm in water, 1 MU = 0.01 Gy at d_max",
        "kernels_sha256": kernel_digest(mach),
        "engines": {name: calibrate_engine(name, mach) for name in engines},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: calibrate the built-in engines of a machine and write the file.

    Parameters
    ----------
    argv : sequence of str, optional

    Returns
    -------
    int
        0 on success.
    """
    parser = argparse.ArgumentParser(prog="python -m tools.kernels.calibrate")
    parser.add_argument("machine", nargs="?", default="6X")
    parser.add_argument(
        "--engines",
        default=",".join(Engine.choices()),
        help="comma-separated engine names (default: the built-in engines)",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data = calibration(args.machine, args.engines.split(","))
    mach = load_machine(args.machine)
    path = mach.directory / mach.calibration_file
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
