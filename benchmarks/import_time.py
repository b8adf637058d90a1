"""Import time under ``python -m dlpy.compat`` against the same import under PyTorch, each in a
fresh process.

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/import_time.py \
        [--runs 3] [--libraries dlpy monai transformers ...] [--before OLD_SRC]

For ``dlpy``: ``python -c "import dlpy"`` against ``python -c "import torch"``. For a library
L: ``python -m dlpy.compat S`` where the script S is ``import L``, against ``import torch`` and
S in one process; ``L:A,B`` imports L with the modules A and B hidden (``sys.modules[A] =
None``: MONAI's optional dependencies, as on a machine with only its requirements).
``--before OLD_SRC`` adds dlpy.compat run from another copy of dlpy's sources (a tree before a
change) as a third contender. The contenders alternate run by run (a busy machine slows them
alike); prints the best wall-clock seconds of each (the whole process: interpreter start,
imports, exit), the best CPU seconds (user + system: less swayed by other work on a shared
machine) and the ratios of dlpy.compat's to torch's (1.00: as fast as torch; below: faster).
A library that fails to import shows its error's last line instead. dlpy.compat's cache of
rewritten code is warmed by a first, untimed run of each library under each dlpy.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

LIBRARIES = ("monai:transformers,ignite,matplotlib,huggingface_hub", "monai", "transformers",
             "pytorch_lightning", "diffusers", "botorch", "gpytorch", "pyro", "torchmetrics",
             "kornia", "sentence_transformers", "timm")


def script_text(library: str) -> str:
    """The source importing ``library`` (``L:A,B``: L with A and B hidden)."""
    name, _, hidden = library.partition(":")
    if not hidden:
        return f"import {name}\n"
    return (f"import sys\nhidden = [n for n in {hidden.split(',')!r} if n not in sys.modules]\n"
            f"sys.modules.update(dict.fromkeys(hidden))\ntry:\n    import {name}\n"
            f"finally:\n    for n in hidden:\n        del sys.modules[n]\n")


def commands(library: str, folder: str) -> tuple[list[str], list[str]]:
    """(the dlpy.compat command, the torch command) importing ``library`` (``dlpy``: dlpy
    itself against torch itself)."""
    if library == "dlpy":
        return [sys.executable, "-c", "import dlpy"], [sys.executable, "-c", "import torch"]
    script = os.path.join(folder, f"import_{library.partition(':')[0]}.py")
    with open(script, "w") as file:
        file.write(script_text(library))
    return ([sys.executable, "-m", "dlpy.compat", script],
            [sys.executable, "-c", "import torch\n" + script_text(library)])


def timed(command: list[str], python_path: str | None = None) -> tuple[float, float] | str:
    """(wall-clock seconds, CPU seconds) ``command`` took (``python_path``: its PYTHONPATH
    instead of this one's), or its error's last line when it failed."""
    env = dict(os.environ) if python_path is None else {**os.environ, "PYTHONPATH": python_path}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return lines[-1][:60] if lines else f"exit status {done.returncode}"
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def best(times: list) -> tuple[float, float] | str:
    """The least wall-clock and the least CPU seconds of ``times`` (or the last error)."""
    numbers = [t for t in times if isinstance(t, tuple)]
    if not numbers:
        return times[-1]
    return min(wall for wall, _ in numbers), min(cpu for _, cpu in numbers)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each; the best is kept")
    parser.add_argument("--libraries", nargs="+", default=["dlpy", *LIBRARIES],
                        help="what to import (dlpy: dlpy itself against torch itself)")
    parser.add_argument("--before", help="another copy of dlpy's src folder, also timed")
    args = parser.parse_args(argv)
    contenders = [("dlpy.compat", None), ("torch", None)]
    if args.before:
        contenders.insert(1, ("before", os.path.abspath(args.before)))
    print(f"best of {args.runs} fresh processes, alternating; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"{'import':24s}" + "".join(f" {name + ' wall/cpu s':>22s}" for name, _ in contenders)
          + "  ratio wall/cpu" + ("  before/torch" if args.before else ""))
    with tempfile.TemporaryDirectory() as folder:
        for library in args.libraries:
            compat, torch = commands(library, folder)
            runs = [(torch if name == "torch" else compat, path) for name, path in contenders]
            if library != "dlpy":
                for command, path in runs[:-1]:
                    timed(command, path)  # warms dlpy.compat's cache of rewritten code
            times: list[list] = [[] for _ in runs]
            for _ in range(args.runs):
                for kept, (command, path) in zip(times, runs):
                    kept.append(timed(command, path))
            bests = [best(kept) for kept in times]
            shown = [f"{t[0]:.2f} / {t[1]:.2f}" if isinstance(t, tuple) else t for t in bests]
            ratios = [f"{t[0] / bests[-1][0]:.2f} / {t[1] / bests[-1][1]:.2f}"
                      if isinstance(t, tuple) and isinstance(bests[-1], tuple) else "-"
                      for t in bests[:-1]]
            line = f"{library.replace(',', ' ')[:24]:24s}" + "".join(f" {s:>22s}" for s in shown)
            print(line + "".join(f" {r:>15s}" for r in ratios), flush=True)


if __name__ == "__main__":
    main()
