"""The dose kernels of rtplan's machines: Monte Carlo generation and engine calibration.

The files these tools write ship in the package (``src/rtplan/dose/machines``); the tools
themselves do not. From the repository root::

    python -m tools.kernels.make_kernels 6X          # rewrite the kernel tables, bit for bit
    python -m tools.kernels.make_kernels 6X --check  # regenerate in a temporary folder, compare
    python -m tools.kernels.calibrate 6X             # rewrite 6X_calibration.json

Regenerate the calibration after the kernels: it records their SHA-256, and rtplan
recalibrates at run time (with a warning) when the two disagree.
"""
