"""The beam data of the independent monitor-unit check (:mod:`rtplan.dose._mu_check`).

The file this tool writes ships in the package (``src/rtplan/dose/machines``); the tool
does not. From the repository root::

    python -m tools.mu_check.make_beam_data 6X   # rewrite 6X_mu_check.txt

The data play the part of a clinic's measured beam data: water-tank depth doses and output
factors of the machine, made once, read by the check as tables. The check never runs a
dose engine.
"""
