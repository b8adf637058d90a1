"""The cold-cache cost of dlpy.compat's rewrite of torch libraries (``program_code``): every
module of the given installed packages that imports torch and may hold something to rewrite
(``_may_rewrite``), rewritten as an empty cache rewrites it, against the same rewrite visiting
every node with the garbage collector running (the rewrite before statements without candidate
lines were skipped and the collector paused) and against plain ``compile`` (no rewrite).

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/compat_rewrite.py \
        [--runs 3] [--packages transformers diffusers timm]

The contenders alternate run by run; prints the best seconds of each and the ratios. The
rewritten code of both rewrites is checked to be the same, module by module (marshal bytes).
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import marshal
import os
import sys
import time

from dlpy import compat


def sources(packages: list[str]) -> list[tuple[str, bytes]]:
    found = []
    for package in packages:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            print(f"{package}: not installed, left out")
            continue
        for folder, _, names in os.walk(spec.submodule_search_locations[0]):
            for name in sorted(names):
                path = os.path.join(folder, name)
                if not name.endswith(".py"):
                    continue
                with open(path, "rb") as file:
                    data = file.read()
                if compat._torch_library_source(path, data) is not None \
                        and compat._may_rewrite(data):
                    found.append((path, data))
    return found


def full_visit(data: bytes, path: str):
    tree = compile(data, path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    return compile(compat.DataAccess().visit(tree), path, "exec", dont_inherit=True)


def plain(data: bytes, path: str):
    return compile(data, path, "exec", dont_inherit=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--packages", nargs="+", default=["transformers", "diffusers", "timm"])
    args = parser.parse_args()
    modules = sources(args.packages)
    size = sum(len(data) for _, data in modules)
    print(f"{len(modules)} modules to rewrite, {size / 1e6:.1f} MB of source")
    for path, data in modules:
        if marshal.dumps(compat.program_code(data, path)) != marshal.dumps(full_visit(data, path)):
            sys.exit(f"{path}: the pruned rewrite's code differs from the full visit's")
    contenders = {"program_code": compat.program_code, "full visit": full_visit,
                  "plain compile": plain}
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(args.runs):
        for name, rewrite in contenders.items():
            start = time.perf_counter()
            for path, data in modules:
                rewrite(data, path)
            best[name] = min(best[name], time.perf_counter() - start)
    for name, seconds in best.items():
        print(f"{name:>14}: {seconds:6.2f} s  ({seconds / best['program_code']:.2f}x program_code)")


if __name__ == "__main__":
    main()
