"""Commissioning of a beam model against reference beam data, as a clinic does it.

From the repository root::

    nice python -m tools.commission 6X-MC --engine pencil-beam --from-mc benchmarks/dose/mc/results
    nice python -m tools.commission 6X-MC --engine collapsed-cone --write-machine

reads the reference set (depth doses, profiles and output factors of square fields:
``benchmarks/dose/commissioning/reference_6X.json``, rebuilt from the Geant4 results with
``--from-mc``), fits the source parameters of the machine (focal-spot size, extra-focal
share and width, flattening-filter ramp, jaw transmission) with the chosen engine on the
fit fields, checks the result with full engine runs on every field (the validation fields
were not fitted), and writes the parameters and residuals
(``benchmarks/dose/commissioning/fit_<machine>_<engine>.json`` and ``.md``);
``--write-machine`` also writes the fitted values into ``src/rtplan/dose/machines/<machine>.json``
(then recalibrate: ``python -m tools.kernels.calibrate <machine>``).

* :mod:`tools.commission.reference`: the reference data format and the Monte Carlo reader;
* :mod:`tools.commission.model`: the engine's predictions as a function of the parameters;
* :mod:`tools.commission.fit`: the weighted least-squares fit and the clinic's summaries;
* :mod:`tools.commission.__main__`: the command.
"""
