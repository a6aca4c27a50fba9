"""What ``import rtplan`` and ``rtplan --help`` load: value types, never the heavy layers.

Each check runs a fresh interpreter and looks at ``sys.modules`` after the statement, so it
states what is imported, not how long it takes (timings are in benchmarks/startup).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import rtplan
import rtplan.geometry

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


def test_import_rtplan_loads_no_heavy_dependency() -> None:
    modules = _modules_after("import rtplan")
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
