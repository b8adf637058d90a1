"""torch's keyword-only parameters stay keyword-only in dlpy (gelu's approximate, sort's stable,
the creation functions' dtype), and the tensor subclasses that take over F.gelu still get
``approximate``."""

import numpy as np
import pytest

import dlpy
from dlpy import functional as F
from dlpy.distributed.device_mesh import init_device_mesh
from dlpy.distributed.tensor import Shard, distribute_tensor
from dlpy.masked import masked_tensor

X = [-1.0, 0.5, 2.0]


@pytest.mark.parametrize("call", [
    lambda: F.gelu(dlpy.tensor(X), "tanh"),
    lambda: dlpy.sort(dlpy.tensor(X), 0, True, True),
    lambda: dlpy.tensor(X).argsort(0, True, True),
    lambda: dlpy.arange(0, 3, 1, dlpy.float64),
    lambda: dlpy.full((2,), 3, dlpy.float64),
    lambda: dlpy.linspace(0, 1, 3, dlpy.float64),
    lambda: dlpy.eye(2, 2, dlpy.float64),
    lambda: dlpy.tensor(X).new_full((2,), 7, dlpy.float64),
])
def test_keyword_only_given_positionally_is_a_type_error(call):
    with pytest.raises(TypeError):
        call()


def test_gelu_approximate_reaches_tensor_subclasses():
    x = dlpy.tensor(X)
    expected = F.gelu(x, approximate="tanh").data
    assert not np.allclose(expected, F.gelu(x).data, rtol=0, atol=1e-6)
    masked = F.gelu(masked_tensor(x, dlpy.tensor([True, True, True])), approximate="tanh")
    np.testing.assert_array_equal(masked.get_data().data, expected)
    mesh = init_device_mesh("cpu", (1,), mesh_dim_names=("tp",))
    dt = F.gelu(distribute_tensor(x.reshape(1, 3), mesh, [Shard(1)]), approximate="tanh")
    np.testing.assert_array_equal(dt.full_tensor().data[0], expected)
