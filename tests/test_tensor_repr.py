"""Tensor printing against torch 2.13's strings (fixtures/tensor_repr.json, written by
make_tensor_repr_fixtures.py from the cases in cases_tensor_repr.py)."""

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from cases_tensor_repr import (
    cases,
    default_float64_cases,
    dual_repr,
    grad_fn_cases,
    meta_cases,
    parameter_cases,
    sparse_cases,
)

import dlpy
from dlpy import _tensor_str
from dlpy.overrides import _disabled_torch_function_impl

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "tensor_repr.json").read_text())


@pytest.fixture(autouse=True)
def default_options():
    dlpy.set_printoptions(profile="default")
    yield
    dlpy.set_printoptions(profile="default")


@pytest.mark.parametrize("name", sorted(FIXTURE["plain"]))
def test_repr_matches_torch(name):
    tensor, options = cases(dlpy)[name]
    dlpy.set_printoptions(**options)
    assert repr(tensor) == FIXTURE["plain"][name]
    assert str(tensor) == FIXTURE["plain"][name]


@pytest.mark.parametrize("name", sorted(FIXTURE["parameter"]))
def test_parameter_repr(name):
    assert repr(parameter_cases(dlpy)[name]) == FIXTURE["parameter"][name]


@pytest.mark.parametrize("name", sorted(FIXTURE["meta"]))
def test_meta_repr(name):
    assert repr(meta_cases(dlpy)[name]) == FIXTURE["meta"][name]


@pytest.mark.parametrize("name", sorted(FIXTURE["sparse"]))
def test_sparse_repr(name):
    assert repr(sparse_cases(dlpy)[name]) == FIXTURE["sparse"][name]


@pytest.mark.parametrize("name", sorted(FIXTURE["default_float64"]))
def test_repr_with_float64_default(name):
    dlpy.set_default_dtype(dlpy.float64)
    try:
        assert repr(default_float64_cases(dlpy)[name]) == FIXTURE["default_float64"][name]
    finally:
        dlpy.set_default_dtype(dlpy.float32)


@pytest.mark.parametrize("name", sorted(FIXTURE["grad_fn"]))
def test_grad_fn_repr(name):
    """The same layout; the node's name is dlpy's (MulBackward where torch has MulBackward0)."""
    tensor = grad_fn_cases(dlpy)[name]
    text = repr(tensor)
    assert re.fullmatch(r"(?s).*, grad_fn=<\w+Backward0?>\)", text)
    assert f"grad_fn=<{tensor.grad_fn.name()}>" in text
    pattern = re.compile(r"grad_fn=<\w+>")
    assert pattern.sub("grad_fn=<>", text) == pattern.sub("grad_fn=<>", FIXTURE["grad_fn"][name])


def test_dual_tensor_shows_its_tangent():
    assert dual_repr(dlpy) == FIXTURE["dual"]


def test_subclass_prefix_is_its_name():
    class Marked(dlpy.Tensor):
        __torch_function__ = _disabled_torch_function_impl  # (no dispatch for the suite)

    assert repr(Marked(np.array([1.0, 2.0], np.float32))) == "Marked([1., 2.])"


def test_tv_tensors_print_as_torchvision():
    """torchvision's TVTensor._make_repr (not installed here: its layout from its source)."""
    from dlpy.vision import tv_tensors

    image = tv_tensors.Image(np.ones((1, 2, 2), np.float32))
    assert repr(image) == "Image([[[1., 1.],\n        [1., 1.]]], )"
    boxes = tv_tensors.BoundingBoxes(np.array([[0, 0, 4, 3]]), format="XYXY",
                                     canvas_size=(8, 8))
    assert repr(boxes) == ("BoundingBoxes([[0, 0, 4, 3]], format=BoundingBoxFormat.XYXY, "
                           "canvas_size=(8, 8))")


def test_format_spec_formats_a_scalar_tensor_as_its_number():
    assert f"{dlpy.tensor(1.5):.2f}|{dlpy.tensor(3)}|{dlpy.tensor(0.25, dtype=dlpy.float64):>6}" \
        == "1.50|3|  0.25"
    assert f"{dlpy.tensor([1.0, 2.0])}" == "tensor([1., 2.])"
    assert f"{dlpy.nn.Parameter(dlpy.tensor(2.0))}" == \
        "Parameter containing:\ntensor(2., requires_grad=True)"  # (torch: only plain tensors)
    with pytest.raises(TypeError, match="unsupported format string"):
        f"{dlpy.tensor([1.0, 2.0]):.2f}"


def test_printoptions_context_and_get():
    assert _tensor_str.get_printoptions() == {"precision": 4, "threshold": 1000, "edgeitems": 3,
                                              "linewidth": 80, "sci_mode": None}
    with _tensor_str.printoptions(precision=1, sci_mode=True):
        assert repr(dlpy.tensor([1.25])) == "tensor([1.2e+00])"
    assert repr(dlpy.tensor([1.25])) == "tensor([1.2500])"
    dlpy.set_printoptions(sci_mode=True)
    dlpy.set_printoptions(precision=2)  # every call resets sci_mode, as torch's
    assert _tensor_str.get_printoptions()["sci_mode"] is None


def test_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="profile must be one of"):
        dlpy.set_printoptions(profile="long")


def test_huge_tensor_formats_only_its_edges():
    big = dlpy.zeros(4000, 3000)
    big.data[-1, -1] = 0.5
    start = time.perf_counter()
    text = repr(big)
    assert time.perf_counter() - start < 0.5
    assert text.endswith("[0.0000, 0.0000, 0.0000,  ..., 0.0000, 0.0000, 0.5000]])")
    assert text.count("\n") == 6
