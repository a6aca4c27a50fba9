"""What ``import rtplan`` and ``rtplan --help`` load: never the heavy layers.

Each check runs a fresh interpreter and looks at ``sys.modules`` after the statement, so it
states what is imported, not how long it takes (timings are in benchmarks/startup).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import rtplan
import rtplan.geometry
from rtplan.cli.main import SUBCOMMANDS, _parser, build_parser

#: Third-party packages that only the functions needing them import.
HEAVY = (
    "numba",
    "llvmlite",
    "scipy",
    "matplotlib",
    "pyvista",
    "vtkmodules",
    "skimage",
    "highdicom",
    "pydicom",
    "shapely",
    "rt_utils",
)

#: The layers that do the work of the subcommands.
IMPLEMENTATION = (
    "rtplan._jit",
    "rtplan.dose",
    "rtplan.evaluate",
    "rtplan.guidance",
    "rtplan.io",
    "rtplan.planning",
    "rtplan.report",
    "rtplan.tissue",
    "rtplan.plugins",
    "rtplan.testing",
)


def _modules_after(code: str) -> set[str]:
    """Names in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _under(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(f"{p}.") for p in packages))


def test_import_rtplan_loads_nothing_but_the_package() -> None:
    modules = _modules_after("import rtplan")
    assert _under(modules, ("rtplan",)) == ["rtplan", "rtplan._version"]
    assert _under(modules, (*HEAVY, "numpy")) == []


def test_value_types_load_no_heavy_dependency() -> None:
    modules = _modules_after("import rtplan\nrtplan.Structure, rtplan.Plan, rtplan.Dose")
    assert "rtplan.grid" in modules  # the value types are there ...
    assert _under(modules, HEAVY) == []  # ... numba, scipy, pyvista ... are not
    assert _under(modules, IMPLEMENTATION) == []
    # the geometry facade of Structure is bound, its implementation is not loaded
    assert "rtplan.geometry" in modules
    assert [m for m in modules if m.startswith("rtplan.geometry.")] == []


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["dose", "--help"], []])
def test_rtplan_help_imports_no_subcommand_implementation(argv: list[str]) -> None:
    code = (
        "import contextlib, io\n"
        "from rtplan.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    main({argv!r})"
    )
    modules = _modules_after(code)
    assert "rtplan.cli.main" in modules
    assert _under(modules, HEAVY) == []
    assert _under(modules, IMPLEMENTATION) == []


@pytest.mark.parametrize("argv", [["--help"], ["--version"], [], ["-v", "--help"]])
def test_rtplan_help_imports_no_subcommand_and_no_numpy(argv: list[str]) -> None:
    code = (
        "import contextlib, io\n"
        "from rtplan.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    main({argv!r})"
    )
    modules = _modules_after(code)
    subcommands = [f"rtplan.cli.{name}" for name in SUBCOMMANDS]
    assert [m for m in subcommands if m in modules] == []
    assert _under(modules, ("numpy",)) == []


def test_a_subcommand_imports_only_its_own_module() -> None:
    code = (
        "import contextlib, io\n"
        "from rtplan.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['-v', 'gamma', '--help'])"
    )
    modules = _modules_after(code)
    subcommands = [f"rtplan.cli.{name}" for name in SUBCOMMANDS]
    assert [m for m in subcommands if m in modules] == ["rtplan.cli.gamma"]


def test_the_listing_without_imports_is_the_full_parsers_listing() -> None:
    """The summaries read from the sources are those the modules' docstrings give."""
    assert _parser(()).format_help() == build_parser().format_help()


def test_public_names_resolve_on_first_use() -> None:
    """Every name the lazy packages promise is there when asked for."""
    for package in (rtplan, rtplan.geometry):
        for name in package.__all__:
            assert getattr(package, name) is not None, f"{package.__name__}.{name}"
        assert set(package.__all__) <= set(dir(package))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = rtplan.geometry.nothing


def test_geometry_functions_are_the_implementations() -> None:
    from rtplan.geometry import mask, rasterize
    from rtplan.geometry._margins import expand

    assert mask is rasterize.mask
    assert rtplan.geometry.expand is expand


# ----------------------------------------------------------------------- kernel warm-up
def test_every_listed_signature_names_a_kernel_and_parses() -> None:
    import importlib

    from numba.core import sigutils

    from rtplan._jit import KERNELS
    from rtplan._kernel_signatures import SIGNATURES

    for key, sigs in SIGNATURES.items():
        importlib.import_module(key.partition(":")[0])
        assert key in KERNELS, key
        for sig in sigs:
            args, _ = sigutils.normalize_signature(sig)
            assert len(args) == KERNELS[key].py_func.__code__.co_argcount, key


def test_signature_text_reads_back_as_the_same_types() -> None:
    import numpy as np
    from numba import typeof
    from numba.core import sigutils

    from rtplan._jit import signature_text

    values = (
        np.zeros((2, 3, 4)),
        np.zeros((2, 3), dtype=np.float32)[:, ::2],  # any layout
        np.zeros((3, 2), order="F").astype(np.int32, order="F"),
        np.zeros(3, dtype=bool),
        np.zeros(2, dtype=np.uint8),
        1.5,
        7,
        True,
        (1.0, 2.0, 3.0),
    )
    types = tuple(typeof(v) for v in values)
    text = signature_text(types)
    assert text is not None
    assert sigutils.normalize_signature(text)[0] == types
    readonly = np.zeros(3)
    readonly.flags.writeable = False
    assert signature_text((typeof(readonly),)) is None
    assert signature_text((typeof("text"),)) is None


def test_a_compiled_signature_is_loaded_by_the_next_process(tmp_path: Path) -> None:
    """What the warm-up compiles is what a later call finds in the cache: no compilation."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    key = "rtplan.evaluate._dvh_kernels:min_max"
    compile_code = (
        "from rtplan._jit import compile_signatures\n"
        "from rtplan._kernel_signatures import SIGNATURES\n"
        f"print(compile_signatures({{{key!r}: SIGNATURES[{key!r}]}}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", compile_code], env=env, capture_output=True, text=True,
        check=True, timeout=300,
    )  # fmt: skip
    assert int(done.stdout.split()[-1]) >= 1
    use_code = (
        "import numpy as np\n"
        "from rtplan.evaluate._dvh_kernels import min_max\n"
        "from rtplan._kernel_signatures import SIGNATURES\n"
        "from numba.core import sigutils\n"
        f"args, _ = sigutils.normalize_signature(SIGNATURES[{key!r}][0])\n"
        "a = np.arange(24.0).reshape(2, 3, 4)\n"
        "a = a if args[0].layout == 'C' else a[:, :, ::2]\n"
        "min_max(a)\n"
        "print(sum(min_max.stats.cache_hits.values()), sum(min_max.stats.cache_misses.values()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", use_code], env=env, capture_output=True, text=True,
        check=True, timeout=300,
    )  # fmt: skip
    hits, misses = (int(x) for x in done.stdout.split()[-2:])
    assert (hits, misses) == (1, 0)


def test_warm_up_starts_once_per_installation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rtplan import _warmup

    started: list[list[str]] = []
    monkeypatch.setattr(_warmup, "_spawn", lambda cmd: started.append(list(cmd)))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert not _warmup.start()  # under pytest: never
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    monkeypatch.setenv("RTPLAN_WARMUP", "0")
    assert not _warmup.start()  # turned off
    monkeypatch.delenv("RTPLAN_WARMUP")
    marker = _warmup.marker_path()
    assert marker.parent == tmp_path
    assert _warmup.start()  # a new installation: started ...
    assert started == [
        [sys.executable, "-m", "rtplan._warmup", "--lock", str(marker.with_suffix(".lock"))]
    ]
    assert not _warmup.start()  # ... and not again while it runs (its lock is held)
    marker.with_suffix(".lock").unlink()
    marker.write_text("done\n")
    assert not _warmup.start()  # nor once it ran
    assert len(started) == 1


def test_warm_up_compiles_the_list_and_leaves_its_marker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rtplan import _kernel_signatures, _warmup

    key = "rtplan.evaluate._dvh_kernels:min_max"
    monkeypatch.setattr(_kernel_signatures, "SIGNATURES", {key: _kernel_signatures.SIGNATURES[key]})
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("RTPLAN_WARMUP", "1")  # restored after the test
    # (in this process: without --lock, which it would remove at the end)
    assert _warmup.main(["--workers", "1"]) == 0
    assert _warmup.marker_path().read_text().startswith("2 kernel signatures in ")
    assert os.environ["RTPLAN_WARMUP"] == "0"  # its compilations start no other warm-up


# --------------------------------------- one process compiles a signature while the warm-up runs
def _min_max_claim() -> tuple[object, tuple[object, ...], Path]:
    """The dispatcher, first listed signature and claim file of a small kernel."""
    from numba.core import sigutils

    from rtplan._kernel_signatures import SIGNATURES
    from rtplan.evaluate._dvh_kernels import min_max

    args, _ = sigutils.normalize_signature(SIGNATURES["rtplan.evaluate._dvh_kernels:min_max"][0])
    claim = min_max._cache.claim_path(tuple(args), min_max.targetctx.codegen())
    return min_max, tuple(args), claim


def test_a_command_waits_for_what_the_warm_up_compiles(monkeypatch: pytest.MonkeyPatch) -> None:
    from rtplan import _jit

    _, _, claim = _min_max_claim()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        claim.write_text(f"warmup {holder.pid}")
        assert _jit._Claims.holder(claim) == ("warmup", holder.pid)
        polls: list[float] = []

        def finish(seconds: float) -> None:  # the warm-up's compilation ends while waiting
            polls.append(seconds)
            claim.unlink()

        monkeypatch.setattr(_jit.time, "sleep", finish)
        assert _jit._Claims().wait(claim)  # it compiled it: load it from the cache
        assert len(polls) == 1
        claim.write_text(f"warmup {holder.pid}")

        def die(seconds: float) -> None:  # the warm-up ends without compiling it
            holder.kill()
            holder.wait()

        monkeypatch.setattr(_jit.time, "sleep", die)
        assert not _jit._Claims().wait(claim)  # compile it in this process
        assert _jit._Claims.holder(claim) is None  # a claim whose process is gone
    finally:
        holder.kill()
        holder.wait()
        claim.unlink(missing_ok=True)


def test_a_command_never_waits_for_another_command_nor_the_warm_up_for_anyone() -> None:
    from rtplan import _jit

    _, _, claim = _min_max_claim()
    try:
        claim.write_text(f"command {os.getpid()}")
        assert not _jit._Claims().wait(claim)  # another command's: compile it too
        claim.write_text(f"warmup {os.getpid()}")
        background = _jit._Claims()
        background.background = True
        assert not background.wait(claim)  # the warm-up compiles what it needs itself
    finally:
        claim.unlink(missing_ok=True)


def test_the_warm_up_claims_what_it_compiles_and_skips_what_a_command_compiles(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    code = (
        "import os\n"
        "from pathlib import Path\n"
        "import numba.core.event as ev\n"
        "from numba.core import sigutils\n"
        "from rtplan._jit import compile_signatures\n"
        "from rtplan._kernel_signatures import SIGNATURES\n"
        "from rtplan.evaluate._dvh_kernels import min_max\n"
        "key = 'rtplan.evaluate._dvh_kernels:min_max'\n"
        "sig = SIGNATURES[key][0]\n"
        "args = tuple(sigutils.normalize_signature(sig)[0])\n"
        "claim = min_max._cache.claim_path(args, min_max.targetctx.codegen())\n"
        "d = claim.parent\n"
        "d.mkdir(parents=True, exist_ok=True)\n"
        "claim.write_text(f'command {os.getpid()}')\n"
        "skipped = compile_signatures({key: [sig]}, background=True)\n"
        "claim.unlink()\n"
        "seen = []\n"
        "class Seen(ev.Listener):\n"
        "    def on_start(self, event):\n"
        "        if event.data['dispatcher'] is min_max:\n"
        "            seen.extend(p.read_text().split()[0] for p in d.glob('*.compiling'))\n"
        "    def on_end(self, event):\n"
        "        pass\n"
        "ev.register('numba:compile', Seen())\n"
        "done = compile_signatures({key: [sig]}, background=True)\n"
        "left = sorted(p.name for p in d.glob('*.compiling'))\n"
        "print(skipped, done, seen, left, min_max.stats.cache_misses[args])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True,
        check=True, timeout=300,
    ).stdout.split("\n")[-2]  # fmt: skip
    # skipped while a command held it; then compiled under the warm-up's claim, released
    assert out == "0 1 ['warmup'] [] 1"
