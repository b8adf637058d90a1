"""torch's device idioms: dlpy.device, ``device=`` on every creation function, Tensor.to /
Module.to overloads, and the clear errors for CUDA (dlpy runs on the CPU only)."""

import copy
import pickle

import numpy as np
import pytest

import dlpy
from dlpy import creation

NO_CUDA = "dlpy runs on the CPU \\(numpy\\); there is no CUDA device"
BAD_STRING = ("Expected one of cpu, cuda, .* device type at start of device string: cpux")


def test_a_training_script_s_device_lines():
    device = "cuda" if dlpy.cuda.is_available() else "cpu"
    assert device == "cpu"
    device = dlpy.device(device)
    x = dlpy.zeros(3, device=device)
    assert x.to(device) is x and x.cpu() is x
    y = x.to(device=device, dtype=np.float64)
    assert y.dtype == np.float64 and y.device == device
    model = dlpy.nn.Linear(3, 2).to(device)
    assert model.cpu() is model
    out = model(dlpy.tensor(np.ones((1, 3)), dtype=np.float32, device=device))
    assert out.shape == (1, 2)
    assert x.device == dlpy.device("cpu") and x.device != "cpu"  # torch's: not its string
    assert not x.is_cuda and x.is_cpu and x.get_device() == -1


def test_device_object_as_torch_s():
    cpu = dlpy.device("cpu")
    assert (cpu.type, cpu.index, str(cpu), repr(cpu)) == ("cpu", None, "cpu", "device(type='cpu')")
    indexed = dlpy.device("cpu", 0)
    assert indexed == dlpy.device("cpu:0") and indexed != cpu
    assert repr(indexed) == "device(type='cpu', index=0)" and str(indexed) == "cpu:0"
    cuda = dlpy.device("cuda:1")
    assert (cuda.type, cuda.index) == ("cuda", 1) and dlpy.device(cuda) == cuda
    assert dlpy.device(0) == dlpy.device("cuda", 0)  # an int is an accelerator index
    assert len({cpu, dlpy.device("cpu"), indexed}) == 2 and cpu != "cpu" and str(cpu) == "cpu"
    assert pickle.loads(pickle.dumps(cuda)) == cuda and copy.deepcopy(cpu) == cpu
    with cpu:
        pass


@pytest.mark.parametrize("text, message", [
    ("cpux", BAD_STRING), ("", "Device string must not be empty"),
    ("cuda:x", "Invalid device string: 'cuda:x'"), ("cpu:-1", "Invalid device string")])
def test_bad_device_strings(text, message):
    with pytest.raises(RuntimeError, match=message):
        dlpy.device(text)


def test_bad_device_arguments():
    with pytest.raises(RuntimeError, match="must not include an index"):
        dlpy.device("cpu:0", 0)
    with pytest.raises(RuntimeError, match="must not be negative"):
        dlpy.device("cpu", -1)
    with pytest.raises(TypeError, match="expected a string such as 'cpu'.*got 1.5"):
        dlpy.device(1.5)


x = dlpy.ones(2, 3)
CREATIONS = {
    "tensor": lambda **k: dlpy.tensor([1.0, 2.0], **k),
    "zeros": lambda **k: dlpy.zeros(2, 3, **k),
    "ones": lambda **k: dlpy.ones((2, 3), **k),
    "empty": lambda **k: dlpy.empty(2, **k),
    "full": lambda **k: dlpy.full((2,), 1.5, **k),
    "eye": lambda **k: dlpy.eye(2, **k),
    "arange": lambda **k: dlpy.arange(4, **k),
    "linspace": lambda **k: dlpy.linspace(0, 1, 3, **k),
    "logspace": lambda **k: creation.logspace(0, 1, 3, **k),
    "rand": lambda **k: dlpy.rand(2, **k),
    "randn": lambda **k: dlpy.randn(2, **k),
    "randint": lambda **k: dlpy.randint(0, 5, (2,), **k),
    "randperm": lambda **k: dlpy.randperm(3, **k),
    "tril_indices": lambda **k: creation.tril_indices(3, 3, **k),
    "triu_indices": lambda **k: creation.triu_indices(3, 3, **k),
    "zeros_like": lambda **k: dlpy.zeros_like(x, **k),
    "ones_like": lambda **k: dlpy.ones_like(x, **k),
    "full_like": lambda **k: dlpy.full_like(x, 2.0, **k),
    "empty_like": lambda **k: creation.empty_like(x, **k),
    "rand_like": lambda **k: dlpy.rand_like(x, **k),
    "randn_like": lambda **k: dlpy.randn_like(x, **k),
    "new_zeros": lambda **k: x.new_zeros(2, **k),
    "new_ones": lambda **k: x.new_ones(2, **k),
    "new_empty": lambda **k: x.new_empty(2, **k),
    "new_full": lambda **k: x.new_full((2,), 3.0, **k),
    "new_tensor": lambda **k: x.new_tensor([1, 2], **k),
}


@pytest.mark.parametrize("name", sorted(CREATIONS))
def test_every_creation_function_takes_device(name):
    make = CREATIONS[name]
    plain = make()
    for device in (None, "cpu", "cpu:0", dlpy.device("cpu")):
        made = make(device=device, pin_memory=False)
        assert made.device == dlpy.device("cpu") and made.shape == plain.shape
        assert made.dtype == plain.dtype
    for device, kind in (("cuda", "CUDA"), ("cuda:0", "CUDA"), (dlpy.device("cuda"), "CUDA"),
                         ("mps", "MPS")):
        with pytest.raises(RuntimeError,
                           match=f"^{name}: device='{device}'.*there is no {kind} device"):
            make(device=device)
    with pytest.raises(RuntimeError, match=BAD_STRING):
        make(device="cpux")
    with pytest.raises(RuntimeError, match=f"^{name}: pin_memory=True"):
        make(pin_memory=True)


def test_tensor_to_overloads():
    t = dlpy.tensor([1.0, 2.0], requires_grad=True)
    double = dlpy.zeros(1, dtype=np.float64)
    assert t.to("cpu") is t and t.to(np.float32) is t and t.to(dtype=np.float32) is t
    copied = t.to("cpu", copy=True)
    assert copied is not t and np.array_equal(copied.data, t.data)
    for cast in (t.to(np.float64), t.to("cpu", np.float64), t.to(double),
                 t.to(device=dlpy.device("cpu"), dtype=np.float64, non_blocking=True,
                      memory_format=None), t.to(np.float64, False, True)):
        assert cast.dtype == np.float64
    (cast * 2).sum().backward()  # the cast stays differentiable
    assert np.allclose(t.grad, [2.0, 2.0])


def test_tensor_to_errors():
    t = dlpy.ones(2)
    for call in (lambda: t.to("cuda"), lambda: t.to(device="cuda:0"), lambda: t.cuda(),
                 lambda: t.to("cuda", np.float64)):
        with pytest.raises(RuntimeError, match=NO_CUDA):
            call()
    with pytest.raises(RuntimeError, match=BAD_STRING):
        t.to("cpux")
    with pytest.raises(TypeError, match="expected a dtype, a device or a tensor"):
        t.to(object())
    with pytest.raises(TypeError, match="non_blocking and copy"):
        t.to(np.float64, "cpu")
    with pytest.raises(TypeError, match="unexpected keyword 'foo'"):
        t.to(foo=1)
    with pytest.raises(TypeError, match="dtype given twice"):
        t.to(np.float64, dtype=np.float32)


def test_module_to_overloads_and_errors():
    model = dlpy.nn.Linear(2, 2)
    weight = model.weight
    assert model.to("cpu") is model and model.to(dlpy.device("cpu")) is model
    assert model.to("cpu", np.float64).weight.dtype == np.float64
    assert model.to(dtype=np.float32).weight.dtype == np.float32
    assert model.to(dlpy.zeros(1, dtype=np.float64)).weight.dtype == np.float64
    assert model.weight is weight and model.cpu() is model
    for call in (model.cuda, lambda: model.to("cuda"), lambda: model.to(device="cuda:0")):
        with pytest.raises(RuntimeError, match=f"Linear.*{NO_CUDA}"):
            call()
    with pytest.raises(TypeError, match="only accepts floating point .* dtype=torch.int64"):
        model.to(np.int64)


DEVICE_ONLY = {  # torch's signatures take device= but not pin_memory=
    "as_tensor": lambda **k: dlpy.as_tensor([1, 2], **k),
    "asarray": lambda **k: dlpy.asarray([1.0], **k),
    "randint_like": lambda **k: dlpy.randint_like(x, 3, **k),
    "range": lambda **k: dlpy.range(0, 2, **k),
    "scalar_tensor": lambda **k: dlpy.scalar_tensor(2.0, **k),
    "normal": lambda **k: dlpy.normal(0.0, 1.0, (2,), **k),
}


@pytest.mark.parametrize("name", sorted(DEVICE_ONLY))
def test_the_other_creation_functions_take_device(name):
    make = DEVICE_ONLY[name]
    plain = make()
    for device in (None, "cpu", "cpu:0", dlpy.device("cpu")):
        made = make(device=device)
        assert made.device == dlpy.device("cpu") and made.shape == plain.shape
        assert made.dtype == plain.dtype
    with pytest.raises(RuntimeError, match=f"^{name}: device='cuda'.*there is no CUDA device"):
        make(device="cuda")
    with pytest.raises(RuntimeError, match=BAD_STRING):
        make(device="cpux")


@pytest.mark.parametrize("name", ["hann_window", "hamming_window", "blackman_window",
                                  "bartlett_window", "kaiser_window"])
def test_windows_take_device(name):
    make = getattr(dlpy, name)
    plain = make(8)
    for device in (None, "cpu", dlpy.device("cpu")):
        np.testing.assert_array_equal(make(8, device=device).numpy(), plain.numpy())
    with pytest.raises(RuntimeError, match=f"^{name}: device='cuda'.*there is no CUDA device"):
        make(8, device="cuda")
