"""Lint the notebooks for what breaks the docs build: a code cell that mixes imports with other code.

nbdev's docs processing re-executes every cell that holds an import (out of context), so such a cell must hold
imports only. Exits 1 listing the offending cells (notebook, cell number, first line).
"""
import ast, sys
from pathlib import Path

import nbformat


def mixed_import_cells(nb_path: Path):
    "Yield (cell index, first line) of code cells that hold imports and other statements."
    nb = nbformat.read(nb_path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code": continue
        src = "\n".join(l for l in cell.source.splitlines() if not l.lstrip().startswith(("%", "!")))
        if "nbdev_export()" in src or "#| eval: false" in src: continue
        try: tree = ast.parse(src)
        except SyntaxError: continue
        if any(l.strip().startswith("#| export") or l.strip().startswith("#| exporti") for l in src.splitlines()): continue
        kinds = [isinstance(n, (ast.Import, ast.ImportFrom)) for n in tree.body]
        if any(kinds) and not all(kinds):
            # only statements nbdev flags: expressions and assignments beside imports
            if any(isinstance(n, (ast.Expr, ast.Assign)) for n in ast.walk(tree)):
                yield i, next((l for l in cell.source.splitlines() if l.strip()), "")


def main(paths):
    bad = [(p, i, line) for p in paths for i, line in mixed_import_cells(p)]
    for p, i, line in bad: print(f"{p}: cell {i} mixes imports with other code (put imports in their own cell): {line}")
    return 1 if bad else 0


if __name__ == "__main__":
    paths = [Path(a) for a in sys.argv[1:]] or sorted(Path("nbs").glob("*.ipynb"))
    sys.exit(main(paths))
