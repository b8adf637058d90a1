"""The F API as a whole: every name is there, every op keeps float32, no torch anywhere."""

import subprocess
import sys

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor


def test_every_exported_name_exists():
    for name in F.__all__:
        assert callable(getattr(F, name)), name


def _f32(rng, *shape):
    return Tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)


# name -> fn(rng) returning (output, inputs that need gradients); all float32
FLOAT32_CASES = {
    "add": lambda r: (lambda a, b: (F.add(a, b), [a, b]))(_f32(r, 2, 3), _f32(r, 3)),
    "sub": lambda r: (lambda a: (F.sub(a, 1.5), [a]))(_f32(r, 2, 3)),
    "mul": lambda r: (lambda a: (F.mul(2.0, a), [a]))(_f32(r, 2, 3)),
    "div": lambda r: (lambda a: (F.div(a, np.full(3, 2.0)), [a]))(_f32(r, 2, 3)),
    "neg": lambda r: (lambda a: (F.neg(a), [a]))(_f32(r, 3)),
    "power": lambda r: (lambda a: (F.power(a, 3), [a]))(_f32(r, 3)),
    "exp": lambda r: (lambda a: (F.exp(a), [a]))(_f32(r, 3)),
    "log": lambda r: (lambda a: (F.log(a * a + 1.0), [a]))(_f32(r, 3)),
    "sqrt": lambda r: (lambda a: (F.sqrt(a * a + 1.0), [a]))(_f32(r, 3)),
    "identity": lambda r: (lambda a: (F.identity(a), [a]))(_f32(r, 3)),
    "relu": lambda r: (lambda a: (F.relu(a), [a]))(_f32(r, 3)),
    "sigmoid": lambda r: (lambda a: (F.sigmoid(a), [a]))(_f32(r, 3)),
    "tanh": lambda r: (lambda a: (F.tanh(a), [a]))(_f32(r, 3)),
    "gelu": lambda r: (lambda a: (F.gelu(a), [a]))(_f32(r, 3)),
    "matmul": lambda r: (lambda a, b: (F.matmul(a, b), [a, b]))(_f32(r, 2, 2, 3), _f32(r, 3, 4)),
    "linear": lambda r: (lambda x, w, b: (F.linear(x, w, b), [x, w, b]))(
        _f32(r, 2, 3), _f32(r, 4, 3), _f32(r, 4)),
    "sum": lambda r: (lambda a: (F.sum(a, 0), [a]))(_f32(r, 2, 3)),
    "mean": lambda r: (lambda a: (F.mean(a), [a]))(_f32(r, 2, 3)),
    "max": lambda r: (lambda a: (F.max(a, axis=-1).values, [a]))(_f32(r, 2, 3)),
    "reshape": lambda r: (lambda a: (F.reshape(a, (3, 2)), [a]))(_f32(r, 2, 3)),
    "transpose": lambda r: (lambda a: (F.transpose(a, (1, 0)), [a]))(_f32(r, 2, 3)),
    "swapaxes": lambda r: (lambda a: (F.swapaxes(a, 0, 1), [a]))(_f32(r, 2, 3)),
    "getitem": lambda r: (lambda a: (F.getitem(a, [1, 1]), [a]))(_f32(r, 2, 3)),
    "concat": lambda r: (lambda a, b: (F.concat([a, b], 1), [a, b]))(_f32(r, 2, 3), _f32(r, 2, 1)),
    "stack": lambda r: (lambda a, b: (F.stack([a, b]), [a, b]))(_f32(r, 3), _f32(r, 3)),
    "softmax": lambda r: (lambda a: (F.softmax(a, -1), [a]))(_f32(r, 2, 3)),
    "log_softmax": lambda r: (lambda a: (F.log_softmax(a, -1), [a]))(_f32(r, 2, 3)),
    "cross_entropy": lambda r: (lambda a: (F.cross_entropy(a, [2, 0]), [a]))(_f32(r, 2, 3)),
    "mse_loss": lambda r: (lambda a: (F.mse_loss(a, np.zeros(3)), [a]))(_f32(r, 3)),
    "layer_norm": lambda r: (lambda x, w, b: (F.layer_norm(x, w, b), [x, w, b]))(
        _f32(r, 2, 3), _f32(r, 3), _f32(r, 3)),
    "embedding": lambda r: (lambda w: (F.embedding([[0, 2]], w), [w]))(_f32(r, 3, 2)),
    "where": lambda r: (lambda a, b: (F.where(np.array([True, False]), a, b), [a, b]))(
        _f32(r, 2), _f32(r, 2)),
    "masked_fill": lambda r: (lambda a: (F.masked_fill(a, np.array([True, False]), -1e9), [a]))(
        _f32(r, 2)),
    "dropout": lambda r: (lambda a: (F.dropout(a, 0.5, True, np.random.default_rng(0)), [a]))(
        _f32(r, 4)),
    "silu": lambda r: (lambda a: (F.silu(a), [a]))(_f32(r, 3)),
    "leaky_relu": lambda r: (lambda a: (F.leaky_relu(a, 0.2), [a]))(_f32(r, 3)),
    "elu": lambda r: (lambda a: (F.elu(a), [a]))(_f32(r, 3)),
    "softplus": lambda r: (lambda a: (F.softplus(a, 2.0), [a]))(_f32(r, 3)),
    "clamp": lambda r: (lambda a: (F.clamp(a, -0.5, 0.5), [a]))(_f32(r, 3)),
    "hardtanh": lambda r: (lambda a: (F.hardtanh(a), [a]))(_f32(r, 3)),
    "min": lambda r: (lambda a: (F.min(a, axis=0).values, [a]))(_f32(r, 2, 3)),
    "logsumexp": lambda r: (lambda a: (F.logsumexp(a, -1), [a]))(_f32(r, 2, 3)),
    "var": lambda r: (lambda a: (F.var(a, 1), [a]))(_f32(r, 2, 3)),
    "std": lambda r: (lambda a: (F.std(a), [a]))(_f32(r, 2, 3)),
    "norm": lambda r: (lambda a: (F.norm(a, 3, 1), [a]))(_f32(r, 2, 3)),
    "squeeze": lambda r: (lambda a: (F.squeeze(a), [a]))(_f32(r, 2, 1)),
    "unsqueeze": lambda r: (lambda a: (F.unsqueeze(a, 0), [a]))(_f32(r, 2)),
    "flatten": lambda r: (lambda a: (F.flatten(a), [a]))(_f32(r, 2, 3)),
    "permute": lambda r: (lambda a: (F.permute(a, (1, 0)), [a]))(_f32(r, 2, 3)),
    "nll_loss": lambda r: (lambda a: (F.nll_loss(a, [2, -100]), [a]))(_f32(r, 2, 3)),
    "smooth_l1_loss": lambda r: (lambda a: (F.smooth_l1_loss(a, np.zeros(3)), [a]))(_f32(r, 3)),
    "huber_loss": lambda r: (lambda a: (F.huber_loss(a, np.zeros(3), delta=0.5), [a]))(
        _f32(r, 3)),
    "kl_div": lambda r: (lambda a: (F.kl_div(a, np.full(3, 1 / 3), "batchmean"), [a]))(
        _f32(r, 3)),
    "normalize": lambda r: (lambda a: (F.normalize(a), [a]))(_f32(r, 2, 3)),
    "cosine_similarity": lambda r: (lambda a, b: (F.cosine_similarity(a, b), [a, b]))(
        _f32(r, 2, 3), _f32(r, 2, 3)),
}


def test_every_op_of_the_foundation_is_exported():
    # attention (a composite of these ops) is tested with the layers
    assert set(FLOAT32_CASES) <= set(F.__all__)


@pytest.mark.parametrize("name", sorted(FLOAT32_CASES))
def test_ops_keep_float32_in_float32(name):
    out, inputs = FLOAT32_CASES[name](np.random.default_rng(0))
    assert out.dtype == np.float32 and isinstance(out.data, np.ndarray)
    out.backward(np.ones(out.shape, dtype=np.float32))
    for t in inputs:
        assert t.grad is not None and t.grad.dtype == np.float32 and t.grad.shape == t.shape


def test_mse_loss_is_built_from_ops_and_matches_numpy():
    rng = np.random.default_rng(0)
    x, target = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    loss = F.mse_loss(Tensor(x, requires_grad=True), target)
    assert loss.op is not None and type(loss.op).__name__ == "Mean"
    np.testing.assert_allclose(loss.item(), ((x - target) ** 2).mean())


def test_the_package_never_imports_torch():
    code = ("import sys, dlpy, dlpy.functional, dlpy.graph, dlpy.testing, dlpy.nn; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_cat_is_concat_under_torchs_names():
    a, b = Tensor(np.ones((2, 3)), requires_grad=True), Tensor(np.zeros((2, 1)))
    out = F.cat([a, b], dim=1)
    assert out.shape == (2, 4)
    np.testing.assert_array_equal(out.data, np.concatenate([a.data, b.data], axis=1))
    F.sum(out * 2.0).backward()
    np.testing.assert_array_equal(a.grad, np.full((2, 3), 2.0))
