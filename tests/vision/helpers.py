"""What the model tests share (test_models*.py, test_segmentation.py): the reference fixtures,
building a model without its random initialisation, the state dict in torch's order, and the
comparison of an output and its input gradient with torchvision's."""

import json

import numpy as np

import dlpy
from dlpy import Tensor
from dlpy.nn.utils import _NoInitGenerator


def load_reference(npz_path, keys_path) -> tuple[dict, dict]:
    """(every array of the .npz file, the JSON file of state-dict keys)."""
    with np.load(npz_path) as data:
        arrays = dict(data)
    return arrays, json.loads(keys_path.read_text())


def pairs(model):
    """(key, shape) of model.state_dict(), in its order (torch's: module by module, each one's
    parameters then its persistent buffers), without its copies (a full-size model's are GBs
    and seconds). The output tests check that this is state_dict()'s list on every family
    (state_pairs)."""
    items, seen = [], set()
    for prefix, module in model.named_modules():
        head = f"{prefix}." if prefix else ""
        for name, param in module._parameters.items():
            if param is not None and id(param) not in seen:
                seen.add(id(param))
                items.append((head + name, param.shape))
        items += [(head + name, array.shape) for name, array in module._buffers.items()
                  if array is not None and name not in module._non_persistent]
    return items


def state_pairs(model):
    """(key, shape) of model.state_dict() itself (copies every array)."""
    return [(k, v.shape) for k, v in model.state_dict().items()]


class _DefaultDtypeZeros(_NoInitGenerator):
    """skip_init's generator, its float64 draws zeros of the default dtype: a layer keeps them
    as they are (no copy that writes every value of a full-size model's GB of zeros)."""

    def _empty(self, size=None, dtype=np.float64):
        return super()._empty(size, dlpy.get_default_dtype() if dtype == np.float64 else dtype)


def uninitialised(constructor, **kwargs):
    """constructor(**kwargs) built with a generator that draws zeros: the shapes and names
    without the seconds of random initialisation (what is checked here is the structure, or
    values loaded over it)."""
    return constructor(rng=_DefaultDtypeZeros(np.random.PCG64(0)), **kwargs)


def uninitialised_float64(constructor, **kwargs):
    """uninitialised(constructor, **kwargs) built with float64 the default dtype: the output
    tests load float64 values over it, without double()'s copy of every array first (a
    second of AlexNet's 57 M parameters)."""
    previous = dlpy.get_default_dtype()
    dlpy.set_default_dtype(np.float64)
    try:
        return uninitialised(constructor, **kwargs)
    finally:
        dlpy.set_default_dtype(previous)


def torch_order(model):
    """(key, list(shape)) of the state dict in torch's order (which dlpy's now follows)."""
    return [(k, list(shape)) for k, shape in pairs(model)]


def check_output(model, arrays, name, x_array, grad_output, input_grad: bool) -> None:
    """model(x_array) against arrays["<name>:output"]; with input_grad, the input gradient for
    grad_output (every 4th pixel) against arrays["<name>:input_grad"]."""
    x = Tensor(x_array, requires_grad=True)
    out = model(x)
    np.testing.assert_allclose(out.data, arrays[f"{name}:output"], rtol=1e-10, atol=1e-10)
    if input_grad:
        (out * Tensor(grad_output)).sum().backward()
        np.testing.assert_allclose(x.grad[..., ::4, ::4], arrays[f"{name}:input_grad"],
                                   rtol=1e-9, atol=1e-11)
