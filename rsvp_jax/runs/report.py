"""A report as a list of blocks, rendered both as Markdown and as one self-contained HTML page.

Blocks are tuples: `("h2", text)`, `("p", text)`, `("img", path, caption)`, `("files", [path, ...])`,
`("table", markdown_table)`. Text may hold `code` spans. Paths are relative to the report's folder,
so the report and its figures move together.
"""

from __future__ import annotations

import html
import re

CSS = ("body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;line-height:1.45}"
       "img{max-width:100%;border:1px solid #ddd;margin:.4em 0}figure{margin:1em 0}"
       "figcaption{color:#555;font-size:.9em}table{border-collapse:collapse;font-size:.9em}"
       "td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right}td:first-child{text-align:left}"
       "code{background:#f3f3f3;padding:0 .2em}")


def markdown(title: str, blocks) -> str:
    """The report as Markdown (figures as `![caption](path)`, files as `[path](path)`)."""
    lines = [f"# {title}", ""]
    for kind, *rest in blocks:
        if kind == "h2":
            lines += [f"## {rest[0]}", ""]
        elif kind == "p":
            lines += [rest[0], ""]
        elif kind == "img":
            lines += [f"![{rest[1]}]({rest[0]})", ""]
        elif kind == "files":
            lines += [", ".join(f"[{p}]({p})" for p in rest[0]), ""]
        elif kind == "table":
            lines += [rest[0].rstrip("\n"), ""]
    return "\n".join(lines)


def _inline(text: str) -> str:
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(text, quote=False))


def _table(md: str) -> str:
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in md.strip().splitlines()]
    head, body = rows[0], [r for r in rows[2:]]  # rows[1] is the |---| rule
    out = ["<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body]
    return "\n".join(out) + "</table>"


def page(title: str, blocks) -> str:
    """The report as one HTML page: figures embedded with `<img src=...>`, files linked with `<a href=...>`."""
    parts = [f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    for kind, *rest in blocks:
        if kind == "h2":
            parts.append(f"<h2>{_inline(rest[0])}</h2>")
        elif kind == "p":
            parts.append(f"<p>{_inline(rest[0])}</p>")
        elif kind == "img":
            src = html.escape(rest[0])
            parts.append(f"<figure><a href='{src}'><img src='{src}' alt='{html.escape(rest[1])}'></a>"
                         f"<figcaption>{_inline(rest[1])}</figcaption></figure>")
        elif kind == "files":
            parts.append("<p>" + ", ".join(f"<a href='{html.escape(p)}'>{html.escape(p)}</a>" for p in rest[0]) + "</p>")
        elif kind == "table":
            parts.append(_table(rest[0]))
    return "\n".join(parts) + "\n</body></html>\n"


def links(text: str) -> list[str]:
    """Every relative link of a Markdown or HTML report (`](...)`, `src=`, `href=`), for checks."""
    found = re.findall(r"\]\(([^)]+)\)", text) + re.findall(r"(?:src|href)='([^']+)'", text)
    return [html.unescape(p) for p in found]
