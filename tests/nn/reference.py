"""Reading the PyTorch reference files of tests/fixtures/nn and tests/fixtures/transformer, and
the step-by-step check of a module against torch's training steps (nn/batch_norm.npz,
nn/activation_norm.npz)."""

from pathlib import Path

import numpy as np

from dlpy import Tensor

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def load_grouped(path, nested=("state",)) -> dict[str, dict]:
    """{name: {field: array, kind: {key: array} for kind in nested}} from "<name>:<field>" keys,
    "<name>:<kind>:<key>" (a state dict) gathered under kind; in the file's order."""
    groups: dict[str, dict] = {}
    with np.load(path) as data:
        for key in data.files:
            name, field = key.split(":", 1)
            entry = groups.setdefault(name, {kind: {} for kind in nested})
            kind, _, rest = field.partition(":")
            if kind in nested and rest:
                entry[kind][rest] = data[key]
            else:
                entry[field] = data[key]
    return groups


def load_transformer_fixture(name) -> dict:
    """tests/fixtures/transformer/<name>.npz with its "<group>/<name>" keys (param, input, mask,
    grad, pgrad) gathered by group, the others (out, grad_output, weights) as they are."""
    with np.load(FIXTURES / "transformer" / f"{name}.npz") as data:
        arrays = dict(data)
    groups = {"param": {}, "input": {}, "mask": {}, "grad": {}, "pgrad": {}}
    for key, value in arrays.items():
        group, _, rest = key.partition("/")
        if rest:
            groups[group][rest] = value
        else:
            groups[key] = value
    return groups


def same_state(own, reference):
    """The same names, shapes and dtypes (a model's state_dict lists its parameters, then its
    buffers; PyTorch's goes module by module: the order differs, loading by name does not
    care)."""
    assert sorted(own) == sorted(reference)
    for key, value in reference.items():
        assert own[key].shape == value.shape and own[key].dtype == value.dtype, key


def _inputs(reference, prefix, requires_grad=False):
    inputs = [Tensor(reference[prefix + "input"], requires_grad=requires_grad)]
    if prefix + "input2" in reference:
        inputs.append(Tensor(reference[prefix + "input2"], requires_grad=requires_grad))
    return inputs


def check_steps_as_torch(model, reference):
    """Load torch's state dict into model (float32), take its training steps (outputs, input and
    parameter gradients), compare the state after them and the eval-mode output."""
    same_state(model.state_dict(), reference["state"])  # dlpy's also loads into torch
    model.load_state_dict(reference["state"])
    params = dict(model.named_parameters())
    step = 0
    while f"train{step}:input" in reference:
        prefix = f"train{step}:"
        inputs = _inputs(reference, prefix, requires_grad=True)
        model.zero_grad()
        out = model(*inputs)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.data, reference[prefix + "output"], rtol=1e-4,
                                   atol=1e-5, err_msg=f"step {step} output")
        out.backward(reference[prefix + "grad_out"])
        for i, x in enumerate(inputs):
            key = prefix + "grad_input" + ("" if i == 0 else str(i + 1))
            np.testing.assert_allclose(x.grad, reference[key], rtol=1e-4, atol=1e-5,
                                       err_msg=f"step {step} gradient of input {i}")
        for key, p in params.items():
            np.testing.assert_allclose(p.grad, reference[f"{prefix}grad:{key}"], rtol=1e-4,
                                       atol=1e-5, err_msg=f"step {step} gradient of {key}")
        step += 1
    assert step >= 1
    after = model.state_dict()
    same_state(after, reference["state_after"])
    for key, value in reference["state_after"].items():
        np.testing.assert_allclose(after[key], value, rtol=1e-5, atol=1e-6, err_msg=key)
    model.eval()
    out = model(*_inputs(reference, "eval:"))
    np.testing.assert_allclose(out.data, reference["eval:output"], rtol=1e-4, atol=1e-5)



def check_rnn_gradients(reference, model, x, states):
    """The gradients of the input x, the initial states {"h0", "c0"} and every parameter of a
    recurrent model against nn/rnn.npz's or nn/packed_rnn.npz's record of the case."""
    np.testing.assert_allclose(x.grad, reference["grad_input"], rtol=1e-10, atol=1e-12)
    for name, t in states.items():
        np.testing.assert_allclose(t.grad, reference[f"grad_{name}"], rtol=1e-10, atol=1e-12,
                                   err_msg=name)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, reference[f"grad:{name}"], rtol=1e-10, atol=1e-12,
                                   err_msg=name)
