"""Build the notebooks from their py:percent sources in ``notebooks/_src/``.

The ``.py`` files are the source of truth (readable diffs, reviewable in a pull request); the
``.ipynb`` files next to this script are generated, committed without outputs and without execution
counts. After editing a source, run::

    .venv/bin/python notebooks/_build.py          # rewrite the .ipynb files
    .venv/bin/python notebooks/_build.py --check  # exit 1 if any .ipynb is out of date

Source format (the jupytext "percent" format): a line ``# %%`` starts a code cell, ``# %% [markdown]``
a markdown cell whose lines start with ``# ``; ``tags=["parameters"]`` after the marker tags the cell.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import nbformat

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "_src"
CELL_MARKER = re.compile(r"^# %%(?P<markdown> \[markdown\])?(?:\s+tags=(?P<tags>\[.*\]))?\s*$")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python", "pygments_lexer": "ipython3"}


def _cells(source: str) -> list[tuple[str, list[str], str]]:
    """(kind, tags, text) per cell of a percent-format script."""
    cells: list[tuple[str, list[str], list[str]]] = []
    for line in source.splitlines():
        marker = CELL_MARKER.match(line)
        if marker:
            kind = "markdown" if marker["markdown"] else "code"
            tags = json.loads(marker["tags"]) if marker["tags"] else []
            cells.append((kind, tags, []))
        elif cells:
            cells[-1][2].append(line)
        elif line.strip():
            raise ValueError(f"text before the first '# %%' marker: {line!r}")
    built = []
    for kind, tags, raw_lines in cells:
        lines = [_unmarkdown(line) for line in raw_lines] if kind == "markdown" else raw_lines
        text = "\n".join(lines).strip("\n")
        built.append((kind, tags, text))
    return built


def _unmarkdown(line: str) -> str:
    if line in ("#", ""):
        return ""
    if line.startswith("# "):
        return line[2:]
    raise ValueError(f"markdown line must start with '# ': {line!r}")


def build_notebook(script: Path) -> nbformat.NotebookNode:
    """The output-free notebook for one source script."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO}
    for index, (kind, tags, text) in enumerate(_cells(script.read_text(encoding="utf-8"))):
        metadata: dict[str, Any] = {"tags": tags} if tags else {}
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(text, metadata=metadata)
        else:
            cell = nbformat.v4.new_code_cell(text, metadata=metadata)
        cell.id = f"{script.stem.split('_')[0]}-{index:02d}"  # stable ids keep diffs quiet
        notebook.cells.append(cell)
    nbformat.validate(notebook)
    return notebook


def render(notebook: nbformat.NotebookNode) -> str:
    """The exact text written to disk (JupyterLab's own layout: indent 1, trailing newline)."""
    return nbformat.writes(notebook) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report notebooks that are out of date")
    args = parser.parse_args(argv)
    stale = []
    for script in sorted(SOURCES.glob("*.py")):
        target = HERE / f"{script.stem}.ipynb"
        text = render(build_notebook(script))
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        stale.append(target.name)
        if not args.check:
            target.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"out of date (run notebooks/_build.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    for name in stale:
        print(f"wrote notebooks/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
