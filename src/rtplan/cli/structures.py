"""Add, crop, rename and remove structures, and write the result as an RT Structure Set.

Read the study's structure set, apply the edits and write a new RT Structure Set that
references the study's CT (-o, written whole or not at all). The edits run in this order:

  --add "NAME=EXPR"  a new structure (or a replacement of NAME), in the order given; an
                     expression names ROIs (quoted when they hold spaces or + - | & ( ),
                     e.g. "'Spinal Cord'+3mm"), grows or shrinks one by a margin (PTV+5mm,
                     CTV-3mm; cm also accepted) and combines them: A|B union, A&B
                     intersection, A-B subtraction, with parentheses. As in Python, a margin
                     binds first, then -, then &, then |; "(PTV|CTV)+5mm" grows the union.
                     Later expressions may use the names that earlier --add created.
  --crop-to ROI      every added structure is cut to ROI (e.g. Body).
  --remove NAME      drop a structure.
  --rename OLD=NEW   rename a structure (ROI number, colour and type kept).

It prints the structures written with their volumes in cm³ (--json: as one JSON
document). An unknown ROI name is an error naming it and the structures available.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtplan.cli._output import add_output_arguments
from rtplan.errors import RtplanError

if TYPE_CHECKING:
    from rtplan.structures import Structure, StructureSet

__all__ = ["add_arguments", "parse_expression", "run"]

READS_STUDY = True

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<margin>[+-]\s*\d+(?:\.\d*)?(?:\s*(?:mm|cm))?)(?![\w.])
      | (?P<op>[|&()-])
      | '(?P<squoted>[^']*)'
      | "(?P<dquoted>[^"]*)"
      | (?P<name>[^\s|&()+\-'"]+)
    )""",
    re.VERBOSE | re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Roi:
    """A structure named in an expression."""

    name: str


@dataclass(frozen=True, slots=True)
class Margin:
    """``operand`` grown (positive) or shrunk (negative) by ``margin_mm``."""

    operand: Node
    margin_mm: float


@dataclass(frozen=True, slots=True)
class Combine:
    """``left op right`` with op one of ``|``, ``&``, ``-``."""

    op: str
    left: Node
    right: Node


Node = Roi | Margin | Combine


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise RtplanError(
                f"cannot read {text[pos:]!r} in the expression {text!r}; write names, margins "
                "(+5mm, -3mm), | & - and parentheses"
            )
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind in ("squoted", "dquoted"):
            kind = "name"
        out.append((kind, value))
        pos = m.end()
    return out


class _Parser:
    """Recursive descent over the tokens of one expression.

    union := inter ('|' inter)*; inter := diff ('&' diff)*; diff := post ('-' post)*;
    post := atom margin*; atom := NAME | '(' union ')'.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _error(self, what: str) -> RtplanError:
        return RtplanError(f"{what} in the expression {self.text!r}")

    def parse(self) -> Node:
        if not self.tokens:
            raise self._error("nothing to compute")
        node = self._binary(0)
        if self._peek() is not None:
            raise self._error(f"unexpected {self._peek()[1]!r}")  # type: ignore[index]
        return node

    def _binary(self, level: int) -> Node:
        ops = ("|", "&", "-")
        if level == len(ops):
            return self._postfix()
        node = self._binary(level + 1)
        while (tok := self._peek()) is not None and tok == ("op", ops[level]):
            self.pos += 1
            node = Combine(ops[level], node, self._binary(level + 1))
        return node

    def _postfix(self) -> Node:
        node = self._atom()
        while (tok := self._peek()) is not None and tok[0] == "margin":
            self.pos += 1
            number = re.sub(r"\s+", "", tok[1]).lower()
            scale = 10.0 if number.endswith("cm") else 1.0
            node = Margin(node, float(number.removesuffix("mm").removesuffix("cm")) * scale)
        return node

    def _atom(self) -> Node:
        tok = self._peek()
        if tok is None:
            raise self._error("a structure name is missing at the end")
        self.pos += 1
        if tok[0] == "name":
            if not tok[1].strip():
                raise self._error("an empty quoted name")
            return Roi(tok[1])
        if tok == ("op", "("):
            node = self._binary(0)
            if self._peek() != ("op", ")"):
                raise self._error("a ')' is missing")
            self.pos += 1
            return node
        raise self._error(f"a structure name is expected before {tok[1]!r}")


def parse_expression(text: str) -> Node:
    """The expression tree of a structure expression such as ``"(PTV|CTV)+5mm - Cord"``.

    Raises
    ------
    RtplanError
        If the text is not an expression; the message quotes it.
    """
    return _Parser(text).parse()


def _names(node: Node) -> list[str]:
    if isinstance(node, Roi):
        return [node.name]
    if isinstance(node, Margin):
        return _names(node.operand)
    return _names(node.left) + _names(node.right)


def _evaluate(node: Node, ss: StructureSet) -> Structure:
    if isinstance(node, Roi):
        return ss[node.name]
    if isinstance(node, Margin):
        s = _evaluate(node.operand, ss)
        if node.margin_mm >= 0:
            return s.expand(node.margin_mm)
        return s.contract(-node.margin_mm)
    left, right = _evaluate(node.left, ss), _evaluate(node.right, ss)
    if node.op == "|":
        return left | right
    if node.op == "&":
        return left & right
    return left - right


def _pair(text: str, option: str, example: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise RtplanError(f"{option} {text!r}: write it as {example}")
    return name.strip(), value.strip()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``rtplan structures``."""
    parser.add_argument(
        "--add",
        action="append",
        default=[],
        metavar="NAME=EXPR",
        help='a structure computed from others, e.g. "PTV_5=PTV+5mm", "Ring=(PTV+15mm)-(PTV+5mm)"',
    )
    parser.add_argument(
        "--crop-to", default=None, metavar="ROI", help="cut every added structure to this ROI"
    )
    parser.add_argument(
        "--remove", action="append", default=[], metavar="NAME", help="drop a structure"
    )
    parser.add_argument(
        "--rename", action="append", default=[], metavar="OLD=NEW", help="rename a structure"
    )
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="RT Structure Set to write (.dcm)"
    )
    parser.add_argument("--label", default=None, help="Structure Set Label (at most 16 characters)")
    add_output_arguments(parser)


def _check_names(needed: list[tuple[str, str]], ss: StructureSet, created: set[str]) -> None:
    """Raise for the first name that is neither in the set nor created before its use."""
    for option, name in needed:
        if name.casefold() in created:
            continue
        try:
            ss[name]
        except RtplanError as exc:
            raise RtplanError(f"{option}: {exc.args[0]}") from None


def edit(ss: StructureSet, args: argparse.Namespace) -> tuple[StructureSet, dict[str, str]]:
    """Apply the edits of ``args`` to ``ss``; the new set and what happened to each name."""
    adds = [(_pair(a, "--add", '"PTV_5=PTV+5mm"'), a) for a in args.add]
    trees = [(name, parse_expression(expr), text) for (name, expr), text in adds]
    renames = [_pair(r, "--rename", "OLD=NEW") for r in args.rename]
    created: set[str] = set()
    for name, tree, text in trees:
        _check_names([(f"--add {text!r}", n) for n in _names(tree)], ss, created)
        created.add(name.casefold())
    if args.crop_to is not None:
        _check_names([("--crop-to", args.crop_to)], ss, created)
    _check_names([("--remove", n) for n in args.remove], ss, created)
    changes: dict[str, str] = {}
    for name, tree, _ in trees:
        result = _evaluate(tree, ss)
        if args.crop_to is not None:
            result = result & ss[args.crop_to]
        changes[name] = "replaced" if name in ss else "added"
        ss = ss.with_structure(result, name=name)
    for name in args.remove:
        changes[ss[name].name] = "removed"
        ss = ss.without(name)
    for old, new in renames:
        _check_names([("--rename", old)], ss, set())
        if new in ss and ss[new] is not ss[old]:
            raise RtplanError(
                f"--rename {old}={new}: a structure named {new!r} exists already; remove it "
                "first (--remove) or choose another name"
            )
        s = ss[old]
        ss = ss.with_structures(x.renamed(new) if x is s else x for x in ss)
        changes[new] = f"renamed from {s.name}"
    return ss, changes


def run(args: argparse.Namespace) -> int:
    """Write the edited structure set and print its structures; status 0."""
    from rtplan.cli import _common as check
    from rtplan.cli._output import emit
    from rtplan.io import write_rtstruct

    out = check.output_file(args.output, "-o", suffixes=(".dcm",), folders=[args.study])
    if not (args.add or args.remove or args.rename):
        raise RtplanError("nothing to do: give --add, --remove or --rename")
    study = check.load_study(args)
    ss, changes = edit(study.structures, args)
    with check.writing(out) as (stage,):
        write_rtstruct(ss, stage, reference=study.ct, label=args.label)
    rows: list[dict[str, Any]] = []
    for s in ss:
        volume = s.volume_cc if s.has_volume else None
        rows.append(
            {
                "number": s.number,
                "name": s.name,
                "type": s.interpreted_type,
                "volume_cc": None if volume is None else round(volume, 3),
                "change": changes.get(s.name, ""),
            }
        )
    removed = [name for name, what in changes.items() if what == "removed"]
    width = max(len(r["name"]) for r in rows) if rows else 4
    lines = [f"wrote {len(rows)} structures to {out}"]
    for r in rows:
        vol = "-" if r["volume_cc"] is None else f"{r['volume_cc']:.1f} cm³"
        note = f"  ({r['change']})" if r["change"] else ""
        lines.append(f"  {r['number']:>3}  {r['name']:<{width}}  {vol:>12}{note}")
    lines += [f"  removed: {name}" for name in removed]
    emit(args, lines, {"output": str(out), "structures": rows, "removed": removed})
    return 0
