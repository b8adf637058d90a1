"""Unchanged PyTorch programs (examples/pytorch/) run under PyTorch and under dlpy
(`python -m dlpy.compat`), alternating, each its own process on one thread: the wall time of each
(minimum of --runs), their ratio, and what each program printed on its RESULT line.

    python benchmarks/torch_examples.py [--runs 2] [--only mnist_cnn vae] [--python PY]
        [--torch-path DIR]

--python is the interpreter that has torch (and runs dlpy through PYTHONPATH=src); without torch
only dlpy's column is filled. The torchvision programs need torchvision beside torch: --torch-path
is put on the torch runs' PYTHONPATH (a folder torchvision was installed into with `pip install
--target`; see tests/fixtures/make_vision_fixtures.py for torchvision's CUDA wheel beside CPU
torch). A program's arguments are in PROGRAMS below: settings that run a few seconds to a minute;
mnist_cnn reads ../shared/data/mnist (decompressed once into torchvision's root/MNIST/raw layout
in a temporary folder) when it is there, else it trains on its synthetic digits.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import min_of_alternating

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "pytorch"
MNIST = ROOT.parent / "shared" / "data" / "mnist"

# program -> its arguments ({mnist}: a torchvision-layout MNIST root, or nothing without it)
PROGRAMS: dict[str, list[str]] = {
    "mnist_cnn": ["{mnist}", "--max-batches", "200", "--test-size", "2000"],
    "dcgan": ["--epochs", "3"],
    "vae": [],
    "super_resolution": [],
    "imagenet_style": ["--epochs", "2"],
    "word_language_model": [],
    "word_language_model_transformer": ["--model", "Transformer", "--lr", "2", "--epochs", "2",
                                        "--nhid", "128"],
    "time_sequence_prediction": [],
    "seq2seq_attention": ["--steps", "300"],
    "char_rnn_generate": ["--steps", "200"],
    "reinforce": ["--episodes", "60"],
    "actor_critic": ["--episodes", "60"],
    "gcn": [],
    "siamese": [],
    "regression": [],
    "autograd_function_legendre": [],
    "torch_func_tutorials": [],
    "spatial_transformer": [],
    "fgsm_attack": [],
    "char_rnn_classify_names": [],
    "neural_style_small": [],
    "min_gpt": [],
    "unet_segmentation": [],
}


# a second setting of one program, under its own name
VARIANT_OF = {"word_language_model_transformer": "word_language_model"}


def mnist_root(folder: str) -> str:
    """torchvision's root/MNIST/raw layout of ../shared/data/mnist (decompressed) in folder,
    or "" when the data is not there."""
    if not MNIST.is_dir():
        return ""
    raw = Path(folder) / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for packed in MNIST.glob("*-ubyte.gz"):
        with gzip.open(packed) as source, open(raw / packed.name[:-3], "wb") as target:
            shutil.copyfileobj(source, target)
    return str(Path(folder))


def run_once(python: str, program: str, args: list[str], dlpy: bool, mnist: str,
             torch_path: str | None) -> tuple[float, dict]:
    """Wall time and the RESULT line's JSON of one run."""
    with tempfile.TemporaryDirectory() as tmp:
        argv = [a.format(mnist=f"--data-root={mnist}" if mnist else "") for a in args]
        argv = [a for a in argv if a]
        script = EXAMPLES / f"{VARIANT_OF.get(program, program)}.py"
        prefix = [python, "-m", "dlpy.compat"] if dlpy else [python]
        path = str(ROOT / "src") if dlpy or not torch_path else torch_path
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=path)
        start = time.perf_counter()
        done = subprocess.run([*prefix, str(script), *argv], cwd=tmp,
                              env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{program} ({'dlpy' if dlpy else 'torch'}) failed:\n{done.stderr}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    return seconds, json.loads(lines[-1][len("RESULT "):]) if lines else {}


def has_torch(python: str) -> bool:
    return subprocess.run([python, "-c", "import torch"], capture_output=True).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="program names (default: all)")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--torch-path", help="put on the torch runs' PYTHONPATH (torchvision)")
    args = parser.parse_args()
    names = args.only or list(PROGRAMS)
    unknown = [n for n in names if n not in PROGRAMS]
    if unknown:
        raise SystemExit(f"unknown program(s) {unknown}; known: {list(PROGRAMS)}")
    with_torch = has_torch(args.python)
    if not with_torch:
        print(f"note: {args.python} has no torch: dlpy only", file=sys.stderr)
    data_folder = tempfile.TemporaryDirectory()
    mnist = mnist_root(data_folder.name) if "mnist_cnn" in names else ""
    # wall: the whole process (torch's import is ~2 s of it); train: the time the program
    # reports for its own work ("seconds" on its RESULT line), where it reports one
    print(f"{'program':32}{'wall dlpy':>10}{'torch':>7}{'ratio':>7}{'train dlpy':>11}"
          f"{'torch':>7}{'ratio':>7}  results (dlpy | torch)")
    for name in names:
        results: dict[str, dict] = {}
        train: dict[str, float] = {}

        def measure(dlpy: bool, name=name, results=results, train=train):
            seconds, result = run_once(args.python, name, PROGRAMS[name], dlpy, mnist,
                                       args.torch_path)
            side = "dlpy" if dlpy else "torch"
            results[side] = result
            if "seconds" in result:
                train[side] = min(train.get(side, float("inf")), result["seconds"])
            return seconds

        contenders = [lambda: measure(True)] + ([lambda: measure(False)] if with_torch else [])
        times = min_of_alternating(args.runs, *contenders)
        wall = (f"{times[0]:10.2f}{times[1]:7.2f}{times[0] / times[1]:7.2f}" if with_torch
                else f"{times[0]:10.2f}{'-':>7}{'-':>7}")
        if "dlpy" in train and "torch" in train:
            own = f"{train['dlpy']:11.2f}{train['torch']:7.2f}{train['dlpy'] / train['torch']:7.2f}"
        else:
            own = f"{'-':>11}{'-':>7}{'-':>7}"
        print(f"{name:32}{wall}{own}  {json.dumps(results.get('dlpy'))} | "
              f"{json.dumps(results.get('torch'))}", flush=True)


if __name__ == "__main__":
    main()
