"""Sphinx configuration of the rtplan documentation.

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (``make docs``); the
API pages come from the numpydoc docstrings of the installed package, the command-line
reference from the parsers of ``rtplan.cli``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import re
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.application import Sphinx

import rtplan

project = "rtplan"
author = "rtplan developers"
copyright = "rtplan developers, MIT licence"
version = release = rtplan.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "numpydoc",
]

exclude_patterns = ["_build"]
root_doc = "index"
default_role = "code"
nitpicky = False

# autodoc: members as the packages curate them (their __all__), in source order
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc sections state the types
autodoc_preserve_defaults = True

# numpydoc: no auto-generated member tables (autodoc lists the members once)
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False
# a package docstring may list references that its functions cite: they are copied into
# the citing docstring (cite_package_references below); a reference list may hold entries
# that its own docstring does not cite
suppress_warnings = ["ref.citation"]

html_theme = "alabaster"
html_title = f"rtplan {release}"
html_theme_options = {
    "description": "Radiotherapy and image-guided procedure planning near bone and muscle",
    "fixed_sidebar": True,
}
html_static_path: list[str] = []


class CommandLineReference(Directive):
    """``.. rtplan-cli::``: the ``--help`` of ``rtplan`` and of every subcommand."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        """Render each parser's help as a titled literal block."""
        from rtplan.cli.main import build_parser

        previous = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = "92"  # argparse wraps help to the terminal width
        try:
            parser = build_parser()
            out: list[nodes.Node] = [nodes.literal_block(text=parser.format_help())]
            sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
            for name, command in sub.choices.items():
                section = nodes.section(ids=[f"rtplan-{name}"])
                section += nodes.title(text=f"rtplan {name}")
                section += nodes.literal_block(text=command.format_help())
                out.append(section)
        finally:
            if previous is None:
                os.environ.pop("COLUMNS", None)
            else:
                os.environ["COLUMNS"] = previous
        return out


_CITED = re.compile(r"\[([A-Za-z][\w.-]*)\]_")
_DEFINED = re.compile(r"^\.\. \[([A-Za-z][\w.-]*)\]")
_SECTION = re.compile(r"^-{3,}$")


def _definitions(lines: list[str]) -> dict[str, list[str]]:
    """Citation definitions (``.. [Label] text`` and its indented lines) of a docstring."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        m = _DEFINED.match(line)
        if m:
            current = found.setdefault(m.group(1), [line])
        elif current is not None and line.startswith("   ") and line.strip():
            current.append(line)
        else:
            current = None
    return found


def _package_definitions(module: str) -> dict[str, list[str]]:
    """The citation definitions in the docstrings of a module and the packages above it."""
    found: dict[str, list[str]] = {}
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        doc = importlib.import_module(".".join(parts[:n])).__doc__ or ""
        for label, lines in _definitions(inspect.cleandoc(doc).splitlines()).items():
            found.setdefault(label, lines)
    return found


def cite_package_references(
    app: Sphinx, what: str, name: str, obj: object, options: Any, lines: list[str]
) -> None:
    """Copy the references a docstring cites from its package's docstring into it."""
    missing = set(_CITED.findall("\n".join(lines))) - set(_definitions(lines))
    module = getattr(obj, "__module__", None)
    if not missing or not isinstance(module, str):
        return
    known = _package_definitions(module)
    extra = [line for label in sorted(missing & set(known)) for line in known[label]]
    if not extra:
        return
    header = next(
        (i for i, line in enumerate(lines[:-1]) if line.strip() == "References"
         and _SECTION.match(lines[i + 1].strip())),
        None,
    )  # fmt: skip
    if header is None:
        lines.extend(["", "References", "----------", *extra])
        return
    end = next(
        (i - 1 for i in range(header + 2, len(lines)) if _SECTION.match(lines[i].strip())),
        len(lines),
    )
    lines[end:end] = [*extra, ""]


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the command-line reference directive and the reference copier."""
    app.add_directive("rtplan-cli", CommandLineReference)
    # before numpydoc (priority 500) turns the sections into reST
    app.connect("autodoc-process-docstring", cite_package_references, priority=400)
    return {"parallel_read_safe": True}
