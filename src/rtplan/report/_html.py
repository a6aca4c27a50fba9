"""A small builder for self-contained HTML review reports (images embedded as PNG)."""

from __future__ import annotations

import base64
import datetime
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rtplan._format import number_text
from rtplan._version import __version__

__all__ = ["HtmlReport", "number_text"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2em auto;
max-width:1100px;color:#1b1b1b;background:#fff;line-height:1.4}
h1{font-size:1.6em;border-bottom:2px solid #2a6f97;padding-bottom:.2em}
h2{font-size:1.25em;color:#2a6f97;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ccd;padding:.25em .6em;text-align:right}
th{background:#eef3f7}td:first-child,th:first-child{text-align:left}
.pass{color:#126b2f;font-weight:600}.fail{color:#b00020;font-weight:600}
.warn{background:#fff6e0;border-left:4px solid #e0a000;padding:.4em .8em;margin:.5em 0}
figure{display:inline-block;margin:.4em;vertical-align:top}
figcaption{font-size:.85em;color:#555;text-align:center}
img{max-width:100%;border:1px solid #ddd}
.meta{color:#555;font-size:.9em}
.scroll{overflow-x:auto;max-width:100%}
"""


def _png_bytes(rgb: npt.NDArray[np.uint8]) -> bytes:
    from matplotlib import image as mpimg

    buf = io.BytesIO()
    mpimg.imsave(buf, np.ascontiguousarray(rgb), format="png")
    return buf.getvalue()


@dataclass
class HtmlReport:
    """Accumulate sections and write one self-contained HTML file.

    Parameters
    ----------
    title : str
        Page title and first heading.
    subtitle : str
        A line under the title (e.g. the study path; never patient identifiers unless asked).

    Examples
    --------
    >>> from rtplan.report import HtmlReport
    >>> report = HtmlReport(title="Plan check", subtitle="thigh_sarcoma")
    >>> report.heading("Clinical goals")
    >>> report.table(["goal", "status"], [["PTV D95 >= 95 %", "PASS"]], status_column=1)
    >>> '<td class="pass">PASS</td>' in report.render()
    True
    """

    title: str
    subtitle: str = ""
    _parts: list[str] = field(default_factory=list)

    def heading(self, text: str) -> None:
        """Start a section."""
        self._parts.append(f"<h2>{html.escape(text)}</h2>")

    def paragraph(self, text: str) -> None:
        """Add a paragraph of plain text."""
        self._parts.append(f"<p>{html.escape(text)}</p>")

    def warnings(self, messages: Sequence[str]) -> None:
        """Add highlighted warning boxes."""
        for m in messages:
            self._parts.append(f'<div class="warn">{html.escape(m)}</div>')

    def table(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        status_column: int | None = None,
        scroll: bool = False,
    ) -> None:
        """Add a table; a ``status_column`` holding PASS/FAIL is coloured.

        Parameters
        ----------
        header : sequence of str
        rows : sequence of sequences
            Cells are converted with ``str``; floats with :func:`number_text`.
        status_column : int, optional
            Index of a PASS/FAIL column: PASS in green, ``N/A`` and ``-`` plain, anything
            else (FAIL, NOT EVALUATED...) in red.
        scroll : bool
            Wrap a wide table in a horizontally scrolling box.
        """

        def cell(v: Any, j: int) -> str:
            text = number_text(v) if isinstance(v, float) else str(v)
            cls = ""
            if status_column is not None and j == status_column and text not in ("N/A", "-"):
                cls = ' class="pass"' if text.upper().startswith("PASS") else ' class="fail"'
            return f"<td{cls}>{html.escape(text)}</td>"

        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(cell(v, j) for j, v in enumerate(r)) + "</tr>" for r in rows
        )
        table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        self._parts.append(f'<div class="scroll">{table}</div>' if scroll else table)

    def image(self, rgb: npt.NDArray[np.uint8], caption: str = "") -> None:
        """Embed an RGB image (H, W, 3) uint8 as PNG."""
        data = base64.b64encode(_png_bytes(rgb)).decode("ascii")
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self._parts.append(
            f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"{cap}</figure>"
        )

    def figure(self, fig: Any, caption: str = "") -> None:
        """Embed a matplotlib figure as PNG (the figure is closed afterwards)."""
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self._parts.append(
            f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"{cap}</figure>"
        )

    def render(self) -> str:
        """The whole HTML document."""
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        sub = f'<p class="meta">{html.escape(self.subtitle)}</p>' if self.subtitle else ""
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{html.escape(self.title)}</h1>{sub}"
            + "\n".join(self._parts)
            + f'<p class="meta">Generated by rtplan {__version__} on {stamp}. For review by '
            "qualified staff; not a substitute for the treatment planning system's own checks.</p>"
            "</body></html>\n"
        )

    def save(self, path: str | Path) -> Path:
        """Write the report (UTF-8, atomically: whole or not at all) and return its path."""
        from rtplan._atomic import atomic_open

        p = Path(path)
        text = self.render()
        with atomic_open(p) as fh:
            fh.write(text)
        return p
