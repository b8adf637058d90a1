"""int8 quantization (dlpy.ao.quantization) on the MNIST MLP: accuracy and size of the float
model, post-training static int8 (x86 qconfig: histogram observers, per-channel weights),
quantization-aware training and dynamic int8; then the speed of one int8 Linear against float,
and of a small int8 residual conv block (conv-bn-relu, conv-bn, add_relu, avg pool, linear)
against float, in dlpy and in PyTorch (when installed).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/quantization.py [--data-dir D] [--epochs 2]
        [--runs 20] [--skip-mnist]

dlpy's int8 Linear sums the integer products exactly with float64 BLAS (every sum of 8-bit
products is an integer below 2^53), or with numpy's integer matmul (no BLAS) for comparison;
the requantization is numpy on top. Timings alternate the contenders and keep each one's
minimum (benchmarks/timing.py); torch runs on one thread.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
from timing import best_of

import dlpy
from dlpy import functional as F
from dlpy import nn, optim
from dlpy.ao import quantization as q

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
BATCH, HIDDEN = 50, 128


def mlp(seed: int) -> nn.Module:
    rng = np.random.default_rng(seed)
    return nn.Sequential(q.QuantStub(), nn.Linear(784, HIDDEN, rng=rng), nn.ReLU(),
                         nn.Linear(HIDDEN, 10, rng=rng), q.DeQuantStub())


def accuracy(model, images, labels) -> float:
    correct = 0
    with dlpy.no_grad():
        for start in range(0, len(images), 1000):
            x = dlpy.tensor(images[start:start + 1000].astype(np.float32) / 255)
            correct += int(np.sum(np.argmax(model(x).data, 1) == labels[start:start + 1000]))
    return correct / len(images)


def train(model, images, labels, epochs: int, lr: float, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for _ in range(epochs):
        order = rng.permutation(len(images))
        for start in range(0, len(images), BATCH):
            index = order[start:start + BATCH]
            x = dlpy.tensor(images[index].astype(np.float32) / 255)
            loss = F.cross_entropy(model(x), dlpy.tensor(labels[index]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def size_bytes(model) -> int:
    return sum(np.asarray(a).nbytes for a in model.state_dict().values())


def mnist(data_dir: Path, epochs: int) -> None:
    from dlpy.data import load_mnist

    arrays = load_mnist(data_dir, download=False)
    images = arrays["train_images"].reshape(60_000, -1)
    labels = arrays["train_labels"].astype(np.int64)
    test_images = arrays["test_images"].reshape(10_000, -1)
    test_labels = arrays["test_labels"].astype(np.int64)
    rows = []

    start = time.perf_counter()
    model = mlp(0)
    train(model, images, labels, epochs, lr=0.05)
    model.eval()
    rows.append(("float32", accuracy(model, test_images, test_labels), size_bytes(model),
                 time.perf_counter() - start))

    start = time.perf_counter()
    model.qconfig = q.get_default_qconfig("x86")
    calibration = [images[i:i + 500] for i in range(0, 2000, 500)]
    static = q.quantize(model, lambda m, data: [m(dlpy.tensor(b.astype(np.float32) / 255))
                                                for b in data], [calibration])
    rows.append(("int8 static (PTQ)", accuracy(static, test_images, test_labels),
                 size_bytes(static), time.perf_counter() - start))

    start = time.perf_counter()
    dynamic = q.quantize_dynamic(model, {nn.Linear}, dtype=q.qint8)
    rows.append(("int8 dynamic", accuracy(dynamic, test_images, test_labels),
                 size_bytes(dynamic), time.perf_counter() - start))

    start = time.perf_counter()
    longer = copy.deepcopy(model).train()  # the float model given QAT's extra epoch, for fairness
    train(longer, images, labels, 1, lr=0.005, seed=1)
    longer.eval()
    rows.append(("float32 (+1 epoch)", accuracy(longer, test_images, test_labels),
                 size_bytes(longer), time.perf_counter() - start))

    start = time.perf_counter()
    model.train()
    model.qconfig = q.get_default_qat_qconfig("x86")
    prepared = q.prepare_qat(model)
    train(prepared, images, labels, 1, lr=0.005, seed=1)  # one fine-tuning epoch
    prepared.eval()
    qat = q.convert(prepared)
    rows.append(("int8 QAT (+1 epoch)", accuracy(qat, test_images, test_labels),
                 size_bytes(qat), time.perf_counter() - start))

    print(f"MNIST MLP 784-{HIDDEN}-10, {epochs} float epochs (SGD 0.05, momentum 0.9, batch "
          f"{BATCH}); test accuracy on 10,000 images")
    print(f"{'model':<22}{'accuracy':>10}{'state bytes':>14}{'seconds':>10}")
    for name, acc, size, seconds in rows:
        print(f"{name:<22}{acc:>10.4f}{size:>14,}{seconds:>10.1f}")


def linear_speed(runs: int) -> None:
    rng = np.random.default_rng(0)
    for batch, in_features, out_features in ((50, 784, 128), (256, 784, 128), (256, 1024, 1024)):
        x = rng.standard_normal((batch, in_features)).astype(np.float32)
        w = (rng.standard_normal((out_features, in_features)) * 0.05).astype(np.float32)
        b = (rng.standard_normal(out_features) * 0.1).astype(np.float32)
        model = nn.Sequential(q.QuantStub(), nn.Linear(in_features, out_features),
                              q.DeQuantStub())
        model.load_state_dict({"1.weight": w, "1.bias": b})
        model.eval().qconfig = q.get_default_qconfig("x86")
        prepared = q.prepare(model)
        prepared(dlpy.tensor(x))
        quantized = q.convert(prepared)
        layer, qx = quantized[1], quantized[0](dlpy.tensor(x))
        integer_layer = q.convert(prepared)[1]
        integer_layer.exact_float = False
        float_layer, tx = model[1], dlpy.tensor(x)

        def dlpy_float(float_layer=float_layer, tx=tx):
            with dlpy.no_grad():
                float_layer(tx)

        contenders = {"dlpy float32": dlpy_float,
                      "dlpy int8 (exact BLAS sums)": lambda layer=layer, qx=qx: layer(qx),
                      "dlpy int8 (numpy int32 matmul)":
                          lambda layer=integer_layer, qx=qx: layer(qx)}
        try:
            import torch

            torch.set_num_threads(1)
            torch.backends.quantized.engine = "x86"
            t_float = torch.nn.Linear(in_features, out_features)
            t_float.load_state_dict({"weight": torch.from_numpy(w), "bias": torch.from_numpy(b)})
            t_q = torch.ao.nn.quantized.Linear(in_features, out_features)
            weight = torch.quantize_per_channel(
                torch.from_numpy(w),
                torch.from_numpy(np.asarray(layer.weight_scales, dtype=np.float64)),
                torch.zeros(out_features, dtype=torch.int64), 0, torch.qint8)
            t_q.set_weight_bias(weight, torch.from_numpy(b))
            t_q.scale, t_q.zero_point = float(layer.scale), int(layer.zero_point)
            t_x = torch.from_numpy(x)
            t_qx = torch.quantize_per_tensor(t_x, qx.q_scale(), qx.q_zero_point(), torch.quint8)
            same = np.mean(t_q(t_qx).int_repr().numpy() == layer(qx).int_repr().data)

            def torch_float(t_float=t_float, t_x=t_x):
                with torch.no_grad():
                    t_float(t_x)

            contenders.update({"torch float32": torch_float, "torch int8 (fbgemm)":
                               lambda t_q=t_q, t_qx=t_qx: t_q(t_qx)})
        except ImportError:
            same = None
        times = dict(zip(contenders, best_of(runs, *contenders.values())))
        base = times["dlpy float32"]
        print(f"\nLinear {in_features}->{out_features}, batch {batch} (min of {runs}, "
              f"alternating)" + (f"; dlpy int8 == torch int8 on {same:.1%} of outputs"
                                 if same is not None else ""))
        for name, seconds in times.items():
            print(f"  {name:<32}{seconds * 1e6:>10.1f} us  {seconds / base:>6.2f}x dlpy float")


def _block(lib_nn, float_functional, stub):
    """QuantStub, conv-bn-relu, conv-bn, add_relu (FloatFunctional), AdaptiveAvgPool2d(1),
    Flatten, Linear, DeQuantStub: a ResNet basic block with a head."""
    class Block(lib_nn.Module):
        def __init__(self):
            super().__init__()
            self.quant, self.dequant = stub.QuantStub(), stub.DeQuantStub()
            self.conv1, self.bn1, self.relu = lib_nn.Conv2d(16, 16, 3, padding=1), \
                lib_nn.BatchNorm2d(16), lib_nn.ReLU()
            self.conv2, self.bn2 = lib_nn.Conv2d(16, 16, 3, padding=1), lib_nn.BatchNorm2d(16)
            self.skip = float_functional()
            self.pool, self.flatten = lib_nn.AdaptiveAvgPool2d(1), lib_nn.Flatten()
            self.fc = lib_nn.Linear(16, 10)

        def forward(self, x):
            x = self.quant(x)
            y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.dequant(self.fc(self.flatten(self.pool(self.skip.add_relu(x, y)))))

    return Block()


def block_speed(runs: int) -> None:
    from dlpy.ao.nn import quantized as nnq

    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 16, 32, 32)).astype(np.float32)
    fuse = [["conv1", "bn1", "relu"], ["conv2", "bn2"]]
    model = _block(nn, nnq.FloatFunctional, q).eval()
    state = {k: np.asarray(v) for k, v in model.state_dict().items()}
    model.qconfig = q.get_default_qconfig("x86")
    prepared = q.prepare(q.fuse_modules(model, fuse))
    prepared(dlpy.tensor(x))
    quantized = q.convert(prepared)
    tx = dlpy.tensor(x)

    def dlpy_float():
        with dlpy.no_grad():
            model(tx)

    contenders = {"dlpy float32": dlpy_float, "dlpy int8": lambda: quantized(tx)}
    try:
        import torch

        torch.set_num_threads(1)
        torch.backends.quantized.engine = "x86"
        t_model = _block(torch.nn, torch.ao.nn.quantized.FloatFunctional,
                         torch.ao.quantization).eval()
        t_model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
        t_model.qconfig = torch.ao.quantization.get_default_qconfig("x86")
        t_prepared = torch.ao.quantization.prepare(torch.ao.quantization.fuse_modules(
            t_model, fuse))
        t_x = torch.from_numpy(x)
        t_prepared(t_x)
        t_quantized = torch.ao.quantization.convert(t_prepared)
        # the integer outputs, each read back with its own scale (the histogram observers'
        # scales may differ from torch's in the last bit, so may the dequantized floats)
        fc, t_fc = quantized.fc, t_quantized.fc
        same = np.mean(np.rint(t_quantized(t_x).numpy() / t_fc.scale) ==
                       np.rint(quantized(tx).data / np.float32(fc.scale)))

        def torch_float():
            with torch.no_grad():
                t_model(t_x)

        contenders.update({"torch float32": torch_float,
                           "torch int8 (fbgemm)": lambda: t_quantized(t_x)})
    except ImportError:
        same = None
    times = dict(zip(contenders, best_of(runs, *contenders.values())))
    base = times["dlpy float32"]
    print(f"\nResidual block 16x32x32, batch 8 (min of {runs}, alternating)"
          + (f"; dlpy int8 == torch int8 on {same:.1%} of the integer outputs"
             if same is not None else ""))
    for name, seconds in times.items():
        print(f"  {name:<32}{seconds * 1e3:>10.2f} ms  {seconds / base:>6.2f}x dlpy float")


def main() -> None:
    import warnings

    warnings.filterwarnings("ignore", message=".*quantize.*deprecated")
    warnings.filterwarnings("ignore", message=".*quantization is deprecated")
    warnings.filterwarnings("ignore", message="Please use quant_min and quant_max")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--skip-mnist", action="store_true")
    args = parser.parse_args()
    if not args.skip_mnist:
        mnist(args.data_dir, args.epochs)
    linear_speed(args.runs)
    block_speed(args.runs)


if __name__ == "__main__":
    main()
