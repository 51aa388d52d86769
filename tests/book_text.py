"""What a chapter shows its reader, for tests that hold the text to it: the outputs stored in
the released notebook (the numbers the prose quotes), and the display equations of its text
with their widths as the book's MathJax renders them (so that none overflows a phone)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sysconfig
from pathlib import Path

from autograder import notebooks, paths

# A phone's text column, in the ex of the book's body font: about 330 px (a 360 px screen
# less the page's margins) at about 8 px per ex.
PHONE_EX = 40.0
MATHJAX = Path(sysconfig.get_paths()["purelib"]) / "sphinx-mathjax-offline" / "static" / "mathjax"
_WIDTHS_JS = """
const MJ = require(process.argv[1] + "node-main.js");
const texs = JSON.parse(require('fs').readFileSync(0, 'utf8'));
MJ.init({loader: {load: ['input/tex-full', 'output/svg'], paths: {mathjax: process.argv[1]}}})
  .then(() => console.log(JSON.stringify(texs.map(tex => {
    const svg = MathJax.startup.adaptor.outerHTML(MathJax.tex2svg(tex, {display: true}));
    return parseFloat(svg.match(/width="([\\d.]+)ex"/)[1]);
  }))));
"""


def stored_text(chapter: str, cell_id: str) -> str:
    """Everything the released chapter's cell ``cell_id`` printed, as stored by the release."""
    nb = notebooks.read_notebook(paths.release_notebook(chapter))
    cell = next(c for c in nb["cells"] if c.get("id") == cell_id)
    return "".join("".join(o["text"]) if isinstance(o.get("text"), list) else o.get("text", "")
                   for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def display_equations(chapter: str) -> list[tuple[str, str]]:
    """``(cell id, TeX)`` of every ``$$ … $$`` display equation in the chapter's text."""
    nb = notebooks.read_notebook(paths.solutions_notebook(chapter))
    return [(cell.get("id", ""), m.group(1).strip()) for cell in nb["cells"]
            if cell.get("cell_type") == "markdown"
            for m in re.finditer(r"\$\$(.+?)\$\$", notebooks.source(cell), re.S)]


def rendered_widths(texs: list[str]) -> list[float]:
    """The width in ex of each display equation as MathJax (the book's copy) renders it
    (Node.js runs it: ./run.sh setup installs Debian's nodejs where it is missing)."""
    node = shutil.which("node")
    assert node, "measuring equations needs Node.js (./run.sh setup installs it where apt is available)"
    assert (MATHJAX / "node-main.js").is_file(), f"sphinx-mathjax-offline's MathJax is not at {MATHJAX}"
    proc = subprocess.run([node, "-e", _WIDTHS_JS, f"{MATHJAX}/"], input=json.dumps(texs),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, [ln for ln in proc.stderr.splitlines() if "Error" in ln and len(ln) < 300]
    return json.loads(proc.stdout)


def assert_equations_fit_a_phone(chapter: str) -> None:
    """No display equation of the chapter is wider than a phone's text column."""
    equations = display_equations(chapter)
    wide = [(cell, round(w, 1), tex[:60]) for (cell, tex), w in zip(equations, rendered_widths(
        [tex for _, tex in equations])) if w > PHONE_EX]
    assert not wide, (f"{chapter}: display equations wider than a phone ({PHONE_EX:g}ex); split them "
                      f"over lines with \\begin{{aligned}}: {wide}")
