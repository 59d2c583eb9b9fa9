"""Writers of the report's blocks: Markdown, self-contained HTML, LaTeX and CSV."""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hpstudy.report.blocks import Block, Bullets, Figure, Heading, Paragraph, Table

CSS = """
body { font-family: system-ui, sans-serif; max-width: 62rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.6rem 0 1.2rem; font-size: 0.92rem; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
th, td { border-bottom: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
td { white-space: nowrap; }
th:first-child, td.text { text-align: left; }
th.group { text-align: center; border-bottom: 2px solid #888; }
figure { margin: 0.6rem 0 1.4rem; }
figure img { max-width: 100%; height: auto; }
figcaption, p.note { font-size: 0.88rem; color: #555; }
"""

NEUTRAL = ("", "—", "not run", "failed", "not finished")  # no hint about a column's alignment
NUMERIC = re.compile(r"^[-+<]?(\d|inf)")


def left_aligned(table: Table) -> list[bool]:
    """Per column, whether it holds text (left-aligned) rather than numbers."""
    flags = []
    for j in range(len(table.columns)):
        texts = [row[j].text for row in table.rows if row[j].text not in NEUTRAL]
        flags.append(j == 0 or any(not NUMERIC.match(t) for t in texts))
    return flags


# ---------------------------------------------------------------- Markdown


def _md_text(text: str) -> str:
    return re.sub(r"([\\*`])", r"\\\1", text)


def _md_cell(cell_text: str, bold: bool) -> str:
    text = _md_text(cell_text).replace("|", "\\|")
    return f"**{text}**" if bold and text else text


def _md_table(table: Table) -> list[str]:
    columns = _flat_columns(table)
    lines = [f"*{_md_text(table.caption)}*", ""]
    lines.append("| " + " | ".join(_md_cell(c, False) for c in columns) + " |")
    lines.append("|" + "|".join(":---" if left else "---:" for left in left_aligned(table)) + "|")
    for row in table.rows:
        lines.append("| " + " | ".join(_md_cell(c.text, c.bold) for c in row) + " |")
    return lines


def _flat_columns(table: Table) -> list[str]:
    """Column labels with their group prefixed where the group differs from the first."""
    if not table.groups:
        return list(table.columns)
    labels, start = [], 0
    first = table.groups[0][0]
    for group, span in table.groups:
        for column in table.columns[start : start + span]:
            labels.append(f"{group}: {column}" if group and group != first else column)
        start += span
    return labels


def to_markdown(blocks: Sequence[Block], figure_dir: str = "figures") -> str:
    """The report as GitHub-flavoured Markdown, figures linked from `figure_dir`."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines += ["#" * block.level + " " + _md_text(block.text)]
        elif isinstance(block, Paragraph):
            text = _md_text(block.text)
            lines += [f"*{text}*" if block.note else text]
        elif isinstance(block, Bullets):
            lines += [f"- {_md_text(item)}" for item in block.items]
        elif isinstance(block, Table):
            lines += _md_table(block)
        elif isinstance(block, Figure):
            lines += [
                f"![{_md_text(block.caption)}]({figure_dir}/{block.filename})",
                "",
                f"*{_md_text(block.caption)}*",
            ]
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------- HTML


def _html_table(table: Table) -> list[str]:
    esc = html.escape
    out = [f'<table id="{esc(table.name)}">', f"<caption>{esc(table.caption)}</caption>", "<thead>"]
    if table.groups:
        cells = "".join(
            f'<th class="group" colspan="{span}">{esc(group)}</th>' for group, span in table.groups
        )
        out.append(f"<tr>{cells}</tr>")
    out.append("<tr>" + "".join(f"<th>{esc(c)}</th>" for c in table.columns) + "</tr>")
    out.append("</thead><tbody>")
    left = left_aligned(table)
    for row in table.rows:
        cells = "".join(
            _td(f"<b>{esc(c.text)}</b>" if c.bold and c.text else esc(c.text), left[j])
            for j, c in enumerate(row)
        )
        out.append(f"<tr>{cells}</tr>")
    out.append("</tbody></table>")
    return out


def _td(content: str, left: bool) -> str:
    return f'<td class="text">{content}</td>' if left else f"<td>{content}</td>"


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def to_html(blocks: Sequence[Block], figure_dir: Path, title: str) -> str:
    """The report as one self-contained HTML page: CSS inline, figures as data URIs."""
    esc = html.escape
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{esc(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(
                f'<p class="note">{esc(block.text)}</p>'
                if block.note
                else f"<p>{esc(block.text)}</p>"
            )
        elif isinstance(block, Bullets):
            body.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in block.items) + "</ul>")
        elif isinstance(block, Table):
            body += _html_table(block)
        elif isinstance(block, Figure):
            uri = _data_uri(figure_dir / block.filename)
            body.append(
                f'<figure><img src="{uri}" alt="{esc(block.caption)}">'
                f"<figcaption>{esc(block.caption)}</figcaption></figure>"
            )
    head = (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
    )
    return head + "\n".join(body) + "\n</body>\n</html>\n"


# ---------------------------------------------------------------- LaTeX

TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "†": r"\textsuperscript{\dag}",
    "—": "---",
    "–": "--",
    "→": r"$\rightarrow$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "×": r"$\times$",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}


def tex_escape(text: str) -> str:
    """`text` with LaTeX's special characters (and the few Unicode signs used) escaped."""
    return "".join(TEX_SPECIAL.get(ch, ch) for ch in text)


def to_tex_table(table: Table) -> str:
    """A booktabs `tabular` (needs \\usepackage{booktabs}), for `\\input`."""
    spec = "l" + "r" * (len(table.columns) - 1)
    lines = [f"\\begin{{tabular}}{{{spec}}}", "\\toprule"]
    if table.groups:
        cells, rules, start = [], [], 1
        for group, span in table.groups:
            cells.append(f"\\multicolumn{{{span}}}{{c}}{{{tex_escape(group)}}}")
            if group:
                rules.append(f"\\cmidrule(lr){{{start}-{start + span - 1}}}")
            start += span
        lines += [" & ".join(cells) + " \\\\", " ".join(rules)]
    lines.append(" & ".join(tex_escape(c) for c in table.columns) + " \\\\")
    lines.append("\\midrule")
    for row in table.rows:
        cells = [
            f"\\textbf{{{tex_escape(c.text)}}}" if c.bold and c.text else tex_escape(c.text)
            for c in row
        ]
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", ""]
    return "\n".join(lines)


def to_tex(
    blocks: Sequence[Block], title: str, figure_dir: str = "figures", table_dir: str = "tables"
) -> str:
    """The report as a LaTeX document that inputs tables/*.tex and includes figures/*.png."""
    commands = {1: "title", 2: "section", 3: "subsection", 4: "subsubsection"}
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            if block.level > 1:
                body.append(
                    f"\\{commands.get(block.level, 'paragraph')}{{{tex_escape(block.text)}}}"
                )
        elif isinstance(block, Paragraph):
            text = tex_escape(block.text)
            body.append(f"{{\\small\\itshape {text}}}\n" if block.note else text + "\n")
        elif isinstance(block, Bullets):
            items = "".join(f"  \\item {tex_escape(i)}\n" for i in block.items)
            body.append(f"\\begin{{itemize}}\n{items}\\end{{itemize}}")
        elif isinstance(block, Table):
            body.append(
                f"\\begin{{table}}[htbp]\\centering\\small\n\\caption{{"
                f"{tex_escape(block.caption)}}}\n\\resizebox{{\\linewidth}}{{!}}{{"
                f"\\input{{{table_dir}/{block.name}.tex}}}}\n\\end{{table}}"
            )
        elif isinstance(block, Figure):
            body.append(
                f"\\begin{{figure}}[htbp]\\centering\n\\includegraphics[width=0.9"
                f"\\linewidth]{{{figure_dir}/{block.filename}}}\n\\caption{{"
                f"{tex_escape(block.caption)}}}\n\\end{{figure}}"
            )
    head = (
        "\\documentclass[11pt]{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{booktabs}\n"
        "\\usepackage{graphicx}\n\\usepackage[margin=2.5cm]{geometry}\n"
        f"\\title{{{tex_escape(title)}}}\n\\date{{}}\n\\begin{{document}}\n\\maketitle\n"
    )
    return head + "\n".join(body) + "\n\\end{document}\n"


# ---------------------------------------------------------------- CSV


def _csv_cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def to_csv(table: Table, path: Path) -> Path:
    """The table's data (raw numbers, not the formatted cells) as CSV."""
    frame = table.data.copy()
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(_csv_cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def tables_of(blocks: Sequence[Block]) -> list[Table]:
    return [b for b in blocks if isinstance(b, Table)]


def figures_of(blocks: Sequence[Block]) -> list[Figure]:
    return [b for b in blocks if isinstance(b, Figure)]
