"""torch.distributed._functional_collectives, tensor._utils and the placement helpers that
transformers reaches for, on a one-process world (the values a single rank must give)."""

import numpy as np
import pytest

import dlpy
import dlpy.distributed as dist
from dlpy.distributed import _functional_collectives as funcol
from dlpy.distributed.tensor import Shard, distribute_tensor, init_device_mesh
from dlpy.distributed.tensor._utils import compute_local_shape_and_global_offset
from dlpy.distributed.tensor.placement_types import Replicate, _StridedShard


@pytest.fixture
def world():
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_local_shard_size_and_offset_follows_torch_chunk():
    assert [Shard.local_shard_size_and_offset(10, 4, r) for r in range(4)] == [
        (3, 0), (3, 3), (3, 6), (1, 9)]
    # an empty piece starts at the end of the rows (torch's offset for it)
    assert [Shard._local_shard_size_and_offset(5, 4, r) for r in range(4)] == [
        (2, 0), (2, 2), (1, 4), (0, 5)]


def test_strided_shard_is_a_shard_that_dtensor_refuses(world):
    placement = _StridedShard(0, split_factor=2)
    assert isinstance(placement, Shard) and placement.is_shard(0)
    assert placement == _StridedShard(0, 2) and placement != Shard(0)
    assert repr(placement) == "_StridedShard(dim=0, sf=2)"
    mesh = init_device_mesh("cpu", (1,))
    with pytest.raises(NotImplementedError):
        distribute_tensor(dlpy.zeros(4, 2), mesh, [placement])


def test_compute_local_shape_and_global_offset_on_one_rank(world):
    mesh = init_device_mesh("cpu", (1,))
    assert compute_local_shape_and_global_offset((6, 4), mesh, [Shard(1)]) == ((6, 4), (0, 0))
    assert compute_local_shape_and_global_offset([3], mesh, [Replicate()]) == ((3,), (0,))


def test_functional_collectives_return_new_tensors(world):
    x = dlpy.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert funcol.wait_tensor(x) is x
    y = funcol.all_reduce(x, "sum", dist.group.WORLD)
    assert y is not x and np.array_equal(y.numpy(), x.numpy())
    mesh = init_device_mesh("cpu", (1,))
    assert np.array_equal(funcol.all_gather_tensor(x, 1, mesh).numpy(), x.numpy())
    assert np.array_equal(funcol.reduce_scatter_tensor(x, "sum", 0, (mesh, 0)).numpy(),
                          x.numpy())
    assert np.array_equal(funcol.all_to_all_single(x, None, None, None).numpy(), x.numpy())


def test_all_to_all_single_autograd_sends_the_gradient_back(world):
    x = dlpy.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = funcol.all_to_all_single_autograd(x, [2], [2], None)
    (y * dlpy.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
    assert np.array_equal(y.detach().numpy(), x.detach().numpy())
    assert np.array_equal(x.grad.numpy(), [[1.0, 2.0], [3.0, 4.0]])
