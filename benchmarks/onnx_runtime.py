"""Inference after export: dlpy's forward against onnxruntime on the exported model.

    .venv/bin/python benchmarks/onnx_runtime.py [--batch 64] [--repeats 20] [--threads 1]

The MNIST MLP (784-128-10) and CNN (two 5x5 convolutions, 2x2 pools, linear) with random
weights, exported by dlpy.onnx.export with a dynamic batch, run on the same float32 batch: dlpy
under no_grad, onnxruntime's CPU session with ``--threads`` intra-op threads (numpy's BLAS
threads follow OMP_NUM_THREADS / OPENBLAS_NUM_THREADS: set them alike). The two alternate, round
by round; prints the best milliseconds per batch, the ratio, and the largest difference.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import best_of

import dlpy
from dlpy.data.mnist_train import CNN, MLP


def session(model, x: np.ndarray, threads: int):
    import onnxruntime

    proto = dlpy.onnx.export(model, dlpy.Tensor(x[:2]), None, input_names=["x"],
                             dynamic_axes={"x": {0: "batch"}})
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = threads
    return onnxruntime.InferenceSession(proto.SerializeToString(), options,
                                        providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    cases = [("MLP", MLP(rng=rng), (args.batch, 784)),
             ("CNN", CNN(rng=rng), (args.batch, 1, 28, 28))]
    print(f"batch {args.batch}, best of {args.repeats}, onnxruntime threads {args.threads}")
    for name, model, shape in cases:
        model.eval()
        x = rng.standard_normal(shape).astype(np.float32)
        ort_session = session(model, x, args.threads)

        def dlpy_forward(model=model, x=x):
            with dlpy.no_grad():
                return model(dlpy.Tensor(x)).data

        def ort_forward(ort_session=ort_session, x=x):
            return ort_session.run(None, {"x": x})[0]

        difference = float(np.abs(dlpy_forward() - ort_forward()).max())
        dlpy_time, ort_time = best_of(args.repeats, dlpy_forward, ort_forward)
        print(f"{name}: dlpy {dlpy_time * 1e3:.3f} ms, onnxruntime {ort_time * 1e3:.3f} ms, "
              f"dlpy / onnxruntime {dlpy_time / ort_time:.2f}x, max |difference| "
              f"{difference:.1e}")


if __name__ == "__main__":
    main()
