"""Running the `img2brain` command as a user would, in a subprocess (shared by the CLI test modules)."""
import os, subprocess, sys
from pathlib import Path

EXE = Path(sys.executable).with_name("img2brain")


def cli(*args, check=True, env=None):
    "Run `img2brain ARGS`; return the CompletedProcess (text output)."
    e = dict(os.environ, MPLBACKEND="Agg", **(env or {}))
    r = subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True, env=e, timeout=900)
    if check and r.returncode != 0:
        raise AssertionError(f"img2brain {' '.join(map(str, args))} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r
