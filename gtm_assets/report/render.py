"""Render report sections to a self-contained HTML file and to markdown for the Dagster UI."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from gtm_assets import __version__
from gtm_assets.report.model import Section

_TEMPLATES = Path(__file__).parent / "templates"


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(_TEMPLATES)),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(
    template: str,
    sections: Sequence[Section],
    *,
    title: str,
    subtitle: str,
    currency: str,
    warehouse: str,
    generated_at: datetime | None = None,
) -> str:
    """Render ``sections`` with ``templates/<template>`` (autoescaped)."""
    generated_at = generated_at or datetime.now(UTC)
    return (
        _environment()
        .get_template(template)
        .render(
            title=title,
            subtitle=subtitle,
            sections=list(sections),
            currency=currency,
            warehouse=warehouse,
            version=__version__,
            generated_at=generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        )
    )


def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(
    sections: Sequence[Section], *, title: str, subtitle: str, max_rows: int = 10
) -> str:
    """The same content as markdown (first tables of each section, PNG charts inline)."""
    out = [f"# {_md(title)}", _md(subtitle), ""]
    for s in sections:
        out.append(f"## {_md(s.title)}")
        if s.status == "skipped":
            out += [f"_Skipped: {_md(s.reason)}_", ""]
            continue
        out += [_md(p) + "\n" for p in s.paragraphs]
        if s.kpis:
            out += [
                "| metric | value | target | prior month | change | status |",
                "|---|---|---|---|---|---|",
            ]
            out += [
                f"| {_md(k.label)} | {k.value} | {k.target} | {k.prior} | {k.change} | {k.status} |"
                for k in s.kpis
            ]
            out.append("")
        out += [
            f"![{_md(c.title)}](data:image/png;base64,{c.png_b64})\n" for c in s.charts if c.png_b64
        ]
        for t in s.tables[:2]:
            out += [f"**{_md(t.title)}**", ""]
            out.append("| " + " | ".join(_md(c) for c in t.columns) + " |")
            out.append("|" + "---|" * len(t.columns))
            out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in t.rows[:max_rows]]
            out.append("")
    return "\n".join(out)


def write_atomically(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` via a temporary file, so readers never see half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
