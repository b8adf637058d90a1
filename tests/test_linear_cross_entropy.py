"""F.linear_cross_entropy, nn.LinearCrossEntropyLoss and the chunked LinearCrossEntropy op,
against torch 2.13 (tests/fixtures/make_linear_cross_entropy_fixtures.py)."""

import json
import pathlib
import tracemalloc
import warnings

import numpy as np
import pytest

import dlpy
from dlpy import autograd, nn
from dlpy import functional as F
from dlpy.nn import LinearCrossEntropyOptions
from dlpy.testing import gradcheck

FIXTURE = np.load(pathlib.Path(__file__).parent / "fixtures" / "linear_cross_entropy.npz")
SPECS = json.loads(str(FIXTURE["specs"]))


def _run(spec):
    """dlpy's loss and gradients for one fixture run, and whether it warned."""
    ref = spec["name"] + "/reference"
    x = dlpy.Tensor(FIXTURE[ref + "/x"], requires_grad=True)
    w = dlpy.Tensor(FIXTURE[ref + "/w"], requires_grad=True)
    b = dlpy.Tensor(FIXTURE[ref + "/b"], requires_grad=True) \
        if ref + "/b" in FIXTURE else None
    weight = FIXTURE[ref + "/weight"] if ref + "/weight" in FIXTURE else None
    settings = spec["settings"]
    kwargs = {k: settings[k] for k in ("reduction", "ignore_index", "label_smoothing")
              if k in settings}
    options = spec["options"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loss = F.linear_cross_entropy(
            x, w, FIXTURE[ref + "/target"], linear_bias=b, weight=weight,
            options=None if options is None else LinearCrossEntropyOptions(**options),
            **kwargs)
    upstream = np.linspace(0.5, 1.5, loss.data.size).reshape(loss.shape).astype(loss.dtype)
    loss.backward(upstream)
    grads = {"grad_x": x.grad.data, "grad_w": w.grad.data}
    if b is not None:
        grads["grad_b"] = b.grad.data
    return loss, grads, any("options ignored" in str(c.message) for c in caught)


@pytest.mark.parametrize("spec", SPECS, ids=[s["key"] for s in SPECS])
def test_matches_torch(spec):
    loss, grads, warned = _run(spec)
    key = spec["key"]
    tol = 4e-6 if spec["settings"].get("dtype") == "float32" else 1e-12
    expected = FIXTURE[key + "/loss"]
    assert loss.shape == expected.shape and loss.dtype == expected.dtype
    np.testing.assert_allclose(loss.data, expected, rtol=tol, atol=tol)
    for name, grad in grads.items():
        np.testing.assert_allclose(grad, FIXTURE[f"{key}/{name}"], rtol=tol, atol=tol,
                                   err_msg=name)
    assert warned == spec["warned"]  # the fallback to the reference path warns, as torch


def test_module_k_dimensional_matches_torch():
    module = nn.LinearCrossEntropyLoss(4, 5, out_features=(2, 3), bias=True, dtype=np.float64,
                                       weight=np.linspace(0.5, 1.5, 5))
    module.linear.weight.data[...] = FIXTURE["module/w"]
    module.linear.bias.data[...] = FIXTURE["module/b"]
    x = dlpy.Tensor(FIXTURE["module/x"], requires_grad=True)
    loss = module(x, FIXTURE["module/target"])
    loss.backward()
    np.testing.assert_allclose(loss.data, FIXTURE["module/loss"], rtol=1e-12)
    np.testing.assert_allclose(x.grad.data, FIXTURE["module/grad_x"], atol=1e-12)
    np.testing.assert_allclose(module.linear.weight.grad.data, FIXTURE["module/grad_w"],
                               atol=1e-12)
    np.testing.assert_allclose(module.linear.bias.grad.data, FIXTURE["module/grad_b"],
                               atol=1e-12)
    assert module.linear.weight.shape == (30, 4)


def _problem(n=11, d=4, classes=7, seed=0):
    rng = np.random.default_rng(seed)
    x = dlpy.Tensor(rng.normal(size=(n, d)), requires_grad=True)
    w = dlpy.Tensor(rng.normal(size=(classes, d)), requires_grad=True)
    b = dlpy.Tensor(rng.normal(size=classes), requires_grad=True)
    target = rng.integers(0, classes, n)
    target[::4] = -100
    return x, w, b, target, rng.uniform(0.5, 2.0, classes)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_gradcheck_chunked(reduction):
    x, w, b, target, weight = _problem()
    options = LinearCrossEntropyOptions(batch_chunk_size=3)
    assert gradcheck(lambda x, w, b: F.linear_cross_entropy(
        x, w, target, linear_bias=b, weight=weight, reduction=reduction, options=options),
        x, w, b)


def test_batch_time_input_and_no_grad():
    x, w, b, target, _ = _problem(n=12)
    x3 = dlpy.Tensor(x.data.reshape(3, 4, 4), requires_grad=True)
    for options in (None, LinearCrossEntropyOptions(batch_chunk_size=5)):
        flat = F.linear_cross_entropy(x, w, target, reduction="none", options=options)
        loss = F.linear_cross_entropy(x3, w, target.reshape(3, 4), reduction="none",
                                      options=options)
        assert loss.shape == (3, 4)
        np.testing.assert_allclose(loss.data.ravel(), flat.data, atol=1e-14)
        with dlpy.no_grad():
            value = F.linear_cross_entropy(x3, w, target.reshape(3, 4), options=options)
        assert not value.requires_grad
        np.testing.assert_allclose(value.data, flat.data[target != -100].mean(), atol=1e-14)


def test_second_backward_needs_allow_retain_graph():
    x, w, b, target, _ = _problem()
    loss = F.linear_cross_entropy(x, w, target, linear_bias=b,
                                  options=LinearCrossEntropyOptions(batch_chunk_size=4))
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="allow_retain_graph=True"):
        loss.backward()
    options = LinearCrossEntropyOptions(batch_chunk_size=4, allow_retain_graph=True)
    for reduction in ("sum", "none"):  # "none" recomputes in backward: twice always works
        x.grad = w.grad = None
        loss = F.linear_cross_entropy(x, w, target, options=options, reduction=reduction)
        loss.sum().backward(retain_graph=True)
        first = w.grad.data.copy()
        loss.sum().backward()
        np.testing.assert_allclose(w.grad.data, 2 * first, atol=1e-14)


def test_double_backward_is_refused():
    x, w, b, target, _ = _problem()
    loss = F.linear_cross_entropy(x, w, target, options=LinearCrossEntropyOptions())
    with pytest.raises(NotImplementedError, match="no double backward.*options=None"):
        autograd.grad(loss, [x], create_graph=True)


def test_chunks_bound_memory():
    """The chunked forward + backward never holds the (N, classes) logits; the reference
    holds several."""
    rng = np.random.default_rng(1)
    n, d, classes = 512, 8, 1000  # logits: 4 MB in float64
    x = dlpy.Tensor(rng.normal(size=(n, d)), requires_grad=True)
    w = dlpy.Tensor(rng.normal(size=(classes, d)), requires_grad=True)
    target = rng.integers(0, classes, n)
    peaks = {}
    for name, options in (("reference", None),
                          ("chunked", LinearCrossEntropyOptions(batch_chunk_size=16))):
        tracemalloc.start()
        F.linear_cross_entropy(x, w, target, options=options).backward()
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks["reference"] > 8 * n * classes
    assert peaks["chunked"] < n * classes * 8 / 8


def test_chunk_size_resolution_as_torch():
    # torch 2.13's _adjust for (N, in, C) = (4096, 256, 32000), float32 on the CPU
    resolve = lambda **kw: LinearCrossEntropyOptions(**kw).resolve(  # noqa: E731
        4096, 256, 32000, np.dtype(np.float32))
    assert resolve()[:2] == (32, "compact")
    assert resolve(chunking_method="aspect_ratio")[0] == 64
    assert resolve(chunking_method="aspect_ratio:4")[0] == 16
    assert resolve(batch_chunk_size=100)[0] == 100
    assert resolve(chunking_method=None)[0] == 4096
    with pytest.raises(ValueError, match="pass only one"):
        resolve(batch_chunk_size=100, chunking_method="aspect_ratio")


@pytest.mark.parametrize("kwargs, match", [
    ({"acc_policy": "fast"}, "acc_policy"),
    ({"chunking_method": "square"}, "chunking_method"),
    ({"batch_chunk_size": 0}, "batch_chunk_size"),
    ({"acc_dtype": np.int32}, "acc_dtype"),
])
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LinearCrossEntropyOptions(**kwargs)


def test_bad_arguments_name_the_argument():
    x, w, b, target, weight = _problem()
    call = F.linear_cross_entropy
    options = LinearCrossEntropyOptions()
    with pytest.raises(ValueError, match="input"):
        call(dlpy.Tensor(np.zeros((2, 2, 2, 4))), w, target)
    with pytest.raises(ValueError, match="linear_weight"):
        call(x, dlpy.Tensor(np.zeros((7, 5))), target)
    with pytest.raises(ValueError, match="linear_weight is float32"):
        call(x, w.float(), target)
    with pytest.raises(ValueError, match="linear_bias shape"):
        call(x, w, target, linear_bias=dlpy.Tensor(np.zeros(6)))
    with pytest.raises(ValueError, match="target of class indices with shape"):
        call(x, w, target[:5])
    with pytest.raises(ValueError, match=r"\(target\).*\[0, 7\)"):
        call(x, w, np.full(11, 9), options=options)
    with pytest.raises(ValueError, match="weight must be 7"):
        call(x, w, target, weight=np.ones(3), options=options)
    with pytest.raises(ValueError, match="reduction"):
        call(x, w, target, reduction="max")
    with pytest.raises(ValueError, match="ignore_index cannot"):
        call(x, w, np.full((11, 7), 1 / 7), ignore_index=0)
    with pytest.raises(TypeError, match="options"):
        call(x, w, target, options={"batch_chunk_size": 4})
    with pytest.raises(ValueError, match="K-dimensional"):
        call(x[0], dlpy.Tensor(np.zeros((7, 2, 4))), np.zeros(2, int))
    with pytest.raises(ValueError, match="weight shape"):
        nn.LinearCrossEntropyLoss(4, 7, weight=np.ones(3))


def test_bfloat16_computes_in_float32():
    x, w, b, target, _ = _problem(n=16, d=8, classes=32)
    half = [dlpy.Tensor(t.data.astype(dlpy.bfloat16), requires_grad=True) for t in (x, w)]
    loss = F.linear_cross_entropy(*half, target, options=LinearCrossEntropyOptions())
    loss.backward()
    assert loss.dtype == dlpy.bfloat16 and half[1].grad.dtype == dlpy.bfloat16
    exact = [dlpy.Tensor(t.data.astype(np.float64), requires_grad=True) for t in half]
    reference = F.linear_cross_entropy(*exact, target)
    reference.backward()
    np.testing.assert_allclose(loss.data.astype(np.float64), reference.data, rtol=1e-2)
    np.testing.assert_allclose(half[1].grad.data.astype(np.float64), exact[1].grad.data,
                               atol=2e-3)


def test_module_chunked_equals_reference():
    x, _, _, target, weight = _problem()
    losses, grads = [], []
    for options in (None, LinearCrossEntropyOptions(batch_chunk_size=2)):
        module = nn.LinearCrossEntropyLoss(4, 7, bias=True, dtype=np.float64, weight=weight,
                                           reduction="sum", options=options,
                                           rng=np.random.default_rng(3))
        losses.append(module(x, target).data)
        module(x, target).backward()
        grads.append(module.linear.weight.grad.data)
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-13)
    np.testing.assert_allclose(grads[1], grads[0], atol=1e-13)
