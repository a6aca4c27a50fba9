"""A seeded mutation fuzzer over rtplan's DICOM readers (CT, RT Struct, RT Dose, RT Plan, study).

Each case takes one clean file of the corpus (:mod:`fuzz.corpus`), mutates it
(:mod:`fuzz.mutate`: bit flips, truncation, tag deletion, wrong VRs, NaN/inf/huge or
non-numeric values, sequences emptied or duplicated, values swapped between files), reads it
with rtplan in a worker process with a time and memory limit (:mod:`fuzz.engine`), and
classifies the outcome (:mod:`fuzz.oracle`):

* ``error``: an :class:`~rtplan.errors.RtplanError`;
* ``warned``: a result that differs from the clean file's, with an
  :class:`~rtplan.errors.RtplanWarning`;
* ``unchanged``: the same result as the clean file's (geometry, HU, dose values, dose meaning,
  structure contours, beam parameters), with or without warnings;
* ``faithful``: a different result, without warning, that is exactly what the mutated file
  says, as decoded independently by the oracle with pydicom (a flipped pixel bit, a digit of
  a coordinate changed into another digit) and plausible (finite, in range): no reader can
  tell such a file from a genuine one;

and the failures: ``raw`` (another exception type), ``silent`` (a different result, no
warning, not what the file says or not plausible), ``foreign-warning`` (a warning that is
not an RtplanWarning), ``hang`` (over the time limit), ``memory`` (over the memory limit),
``crash`` (the worker died).

The bounded run is ``tests/fuzz/test_fuzz.py``; the long run is ``nice -n 10 .venv/bin/python
tests/fuzz/run.py --cases 5000 --seed 12`` from the repository root (the figures of the
README's validation table; about 45 minutes with 2 workers on a shared 2-core machine). A
case over the time limit on a loaded machine replays alone with ``fuzz.engine.run_case``.
"""
