"""Run by test_ddp_hooks.py under ``mpirun -n 2``: DistributedDataParallel averages the
gradients during backward, as torch's (no average_gradients call), honours no_sync and
find_unused_parameters, and sends rank 0's buffers."""

import numpy as np

from dlpy import distributed, nn
from dlpy import functional as F
from dlpy.distributed import DistributedDataParallel
from dlpy.tensor import Tensor

distributed.init(required=True)
rank, world = distributed.rank(), distributed.world_size()
x = np.random.default_rng(5).standard_normal((8, 4)).astype(np.float32)
y = np.random.default_rng(6).standard_normal((8, 2)).astype(np.float32)
assert world == 2, world
mine = slice(rank * 4, rank * 4 + 4)  # each rank half of the batch


def array(grad):
    return np.array(getattr(grad, "data", grad))


def net():
    return nn.Sequential(nn.Linear(4, 3, rng=np.random.default_rng(rank)), nn.Tanh(),
                         nn.Linear(3, 2, rng=np.random.default_rng(10 + rank)))


def reference(model):
    """The gradients of one process on the whole batch, from rank 0's parameters."""
    single = net()
    single.load_state_dict(model.module.state_dict())
    F.mse_loss(single(Tensor(x)), Tensor(y)).backward()
    return [p.grad for p in single.parameters()]


# 1. loss.backward() alone averages: the gradient of the mean over both halves (float32)
model = DistributedDataParallel(net())
F.mse_loss(model(Tensor(x[mine])), Tensor(y[mine])).backward()
expected = reference(model)
worst = max(float(np.abs(p.grad - g).max()) for p, g in zip(model.parameters(), expected))
assert worst < 1e-6, worst
model.average_gradients()  # after an averaging backward: nothing more
assert max(float(np.abs(p.grad - g).max()) for p, g in zip(model.parameters(), expected)) < 1e-6
try:
    model.average_gradients(weight=3.0)
    raise AssertionError("a weighted average after an averaging backward was accepted")
except RuntimeError as err:
    assert "no_sync" in str(err)

# 2. no_sync: two local micro-batches accumulate, the next backward averages the sum
model = DistributedDataParallel(net())
quarter = [slice(rank * 4, rank * 4 + 2), slice(rank * 4 + 2, rank * 4 + 4)]
with model.no_sync():
    F.mse_loss(model(Tensor(x[quarter[0]])), Tensor(y[quarter[0]])).backward()
local = [array(p.grad) for p in model.parameters()]
everyone = distributed.gather_object(local)
if rank == 0:
    assert not all(np.array_equal(a, b) for a, b in zip(everyone[0], everyone[1]))
F.mse_loss(model(Tensor(x[quarter[1]])), Tensor(y[quarter[1]])).backward()
expected = reference(model)  # mean of 4 quarter-means x 1/2 each = 2x the full-batch gradient
worst = max(float(np.abs(p.grad - 2 * g).max()) for p, g in zip(model.parameters(), expected))
assert worst < 1e-6, worst


# 3. a parameter the forward does not use: an error at the next forward, unless
# find_unused_parameters=True (then the backward averages, leaving its gradient None)
class Partly(nn.Module):
    def __init__(self):
        super().__init__()
        self.used, self.unused = net(), nn.Linear(2, 2)

    def forward(self, inputs):
        return self.used(inputs)


model = DistributedDataParallel(Partly())
F.mse_loss(model(Tensor(x[mine])), Tensor(y[mine])).backward()
try:
    model(Tensor(x[mine]))
    raise AssertionError("a forward after an unfinished reduction was accepted")
except RuntimeError as err:
    assert "find_unused_parameters" in str(err) and "unused.weight" in str(err), err
model = DistributedDataParallel(Partly(), find_unused_parameters=True)
F.mse_loss(model(Tensor(x[mine])), Tensor(y[mine])).backward()
assert model.module.unused.weight.grad is None
grads = distributed.gather_object([array(p.grad) for p in model.module.used.parameters()])
if rank == 0:
    assert all(np.array_equal(a, b) for a, b in zip(grads[0], grads[1]))

# 4. buffers: rank 0's running statistics reach every rank at construction and each forward
norm = nn.Sequential(nn.Linear(4, 3, rng=np.random.default_rng(0)), nn.BatchNorm1d(3))
held = norm[1].running_mean  # a Tensor; the broadcasts write into it (torch's, in place)
model = DistributedDataParallel(norm)
model(Tensor(x[mine] + rank))  # each rank updates its own statistics from its own batch
model(Tensor(x[:4]))           # rank 0's come back before this forward: equal after it
assert isinstance(held, Tensor) and held is norm[1].running_mean
stats = distributed.gather_object(held.numpy().copy())
if rank == 0:
    assert np.array_equal(stats[0], stats[1]) and np.abs(stats[0]).max() > 0
    print("ok ddp hooks", flush=True)
