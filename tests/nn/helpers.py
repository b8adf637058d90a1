"""What several nn tests do beside comparing with PyTorch: fit a classifier, rebuild a model from
its checkpoint alone, check that dropout acts in training only, that a module is its function."""

import numpy as np

import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy.nn import read_meta


def fit(model, inputs, labels, opt, steps, loss_fn=F.cross_entropy) -> list[float]:
    """steps steps of opt on loss_fn(model(inputs), labels); the losses, one a step."""
    losses = []
    for _ in range(steps):
        loss = loss_fn(model(inputs), labels)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return losses


def rebuilt_from_checkpoint(model, path):
    """model saved to path, then a new one made from the file's meta alone (its class and
    config) with the saved values loaded."""
    model.save(path)
    meta = read_meta(path)
    assert meta["class"] == type(model).__name__
    rebuilt = type(model)(**meta["config"])
    rebuilt.load(path)
    return rebuilt


def check_dropout_only_in_training(layer, plain, *inputs):
    """layer (with dropout) and plain (without) hold the same values: their outputs differ in
    training and agree in eval, and float32 stays float32 through the backward."""
    plain.load_state_dict(layer.state_dict())
    out = layer(*inputs)
    assert not np.allclose(out.data, plain(*inputs).data)
    out.sum().backward()
    assert out.dtype == np.float32 and all(x.grad.dtype == np.float32 for x in inputs)
    layer.eval()
    np.testing.assert_array_equal(layer(*inputs).data, plain(*inputs).data)


def check_module_is_its_function(module, fn, data, rng):
    """module(x) and fn(x) on float32 data: the same values, and the same input gradient for an
    output gradient drawn from rng."""
    a, b = Tensor(data, requires_grad=True), Tensor(data, requires_grad=True)
    out_module, out_fn = module(a), fn(b)
    np.testing.assert_array_equal(out_module.data, out_fn.data)
    grad = rng.standard_normal(out_fn.shape).astype(np.float32)
    out_module.backward(grad)
    out_fn.backward(grad)
    np.testing.assert_array_equal(a.grad, b.grad)
    assert out_module.dtype == np.float32


def reference_layer(kind: str, ref=None, prefix: str | None = None):
    """The float64 layer of the fixture scripts' make_layer (make_parametrize_fixtures.py):
    "linear", "conv", "conv_no_bias" or "conv_transpose", its parameters "<prefix>:<name>" of
    ref when given."""
    rng = np.random.default_rng(0)
    if kind == "linear":
        layer = nn.Linear(4, 3, rng=rng, dtype=np.float64)
    elif kind in ("conv", "conv_no_bias"):
        layer = nn.Conv2d(2, 3, 3, padding=1, bias=kind == "conv", rng=rng, dtype=np.float64)
    else:
        layer = nn.ConvTranspose2d(3, 2, 3, stride=2, rng=rng, dtype=np.float64)
    if ref is not None:
        for name, p in layer.named_parameters():
            p.data = ref[f"{prefix}:{name}"].copy()
    return layer


def check_recorded_call(layer, ref, prefix: str, x, r, rtol=1e-12, atol=1e-13) -> None:
    """layer(x) and its parameters' gradients of sum(layer(x) * r) against the fixture scripts'
    ``record``: "<prefix>:y" and "<prefix>:grad:<name>"."""
    layer.zero_grad()
    y = layer(x)
    (y * r).sum().backward()
    np.testing.assert_allclose(y.data, ref[f"{prefix}:y"], rtol=rtol, atol=atol, err_msg=prefix)
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, ref[f"{prefix}:grad:{name}"], rtol=rtol, atol=atol,
                                   err_msg=f"{prefix}: {name}")
