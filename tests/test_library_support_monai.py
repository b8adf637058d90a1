"""torch names and behaviours MONAI relies on (the third_party_monai area): torch.serialization's
DEFAULT_PROTOCOL, the collate module's constants, torch.random.default_generator as an object,
torch.backends' flag-mutation switch, default_collate of a Tensor subclass, and affine_grid
sizes given as one-element integer tensors."""

import re

import numpy as np
import pytest

import dlpy
import dlpy.backends
import dlpy.random
from dlpy import functional as F
from dlpy.data import default_collate


def test_serialization_default_protocol(tmp_path):
    from dlpy.serialization import DEFAULT_PROTOCOL

    assert DEFAULT_PROTOCOL == 2
    path = tmp_path / "w.pt"
    dlpy.save({"w": dlpy.arange(3)}, path, pickle_protocol=DEFAULT_PROTOCOL)
    assert dlpy.load(path)["w"].tolist() == [0, 1, 2]


def test_collate_module_constants():
    from dlpy.data._utils.collate import default_collate_err_msg_format, np_str_obj_array_pattern

    assert isinstance(np_str_obj_array_pattern, re.Pattern)
    assert np_str_obj_array_pattern.search(np.array(["a"]).dtype.str) is not None
    assert np_str_obj_array_pattern.search(np.array([None]).dtype.str) is not None
    assert np_str_obj_array_pattern.search(np.zeros(2, np.float32).dtype.str) is None
    assert "found dict" in default_collate_err_msg_format.format("dict")


def test_random_default_generator_is_the_generator_object():
    dlpy.manual_seed(5)
    generator = dlpy.random.default_generator
    assert generator is dlpy.default_generator
    assert generator.initial_seed() == 5  # (MONAI's DataLoader reads it)
    assert generator() is generator  # callers of the former function still get it
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        dlpy.random.nothing  # noqa: B018


def test_backends_nonbracketed_mutation_switch():
    assert not dlpy.backends.flags_frozen()
    try:
        dlpy.backends.disable_global_flags()
        assert dlpy.backends.flags_frozen()
        with dlpy.backends.__allow_nonbracketed_mutation():
            assert not dlpy.backends.flags_frozen()
            dlpy.backends.cudnn.deterministic = True
        assert dlpy.backends.flags_frozen()
    finally:
        vars(dlpy.backends)["__allow_nonbracketed_mutation_flag"] = True
        dlpy.backends.cudnn.deterministic = False


class Tagged(dlpy.Tensor):
    """A Tensor subclass that torch functions keep (as MONAI's MetaTensor)."""


def test_default_collate_keeps_a_tensor_subclass():
    items = [dlpy.arange(3.0).as_subclass(Tagged), dlpy.ones(3).as_subclass(Tagged)]
    batch = default_collate(items)
    assert type(batch) is Tagged
    assert batch.tolist() == [[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]]
    assert type(default_collate([dlpy.ones(2), dlpy.ones(2)])) is dlpy.Tensor


def test_affine_grid_takes_one_element_integer_tensors_as_sizes():
    theta = dlpy.tensor([[[0.9, 0.2, 0.1], [-0.3, 1.1, 0.0]]])
    want = F.affine_grid(theta, (1, 1, 2, 3), align_corners=False)
    got = F.affine_grid(theta, (1, 1, dlpy.tensor(2), dlpy.tensor([3])), align_corners=False)
    assert got.shape == (1, 2, 3, 2)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    with pytest.raises(TypeError):  # a float tensor is no int (torch's TypeError)
        F.affine_grid(theta, (1, 1, dlpy.tensor(2.0), 3), align_corners=False)
