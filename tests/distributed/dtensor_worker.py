"""``mpirun -n N python dtensor_worker.py OUT.json``: DeviceMesh, DTensor and tensor parallelism
on N ranks (2 or 4).

Every rank also computes the single-process answer (numpy, or the unsharded model trained on
the whole batch), so each check compares on the spot. An exception is recorded, not raised;
rank 0 writes {check: {"0": "ok" or the error, ...}} for test_dtensor.py and
test_tensor_parallel.py (one test per check).
"""

from __future__ import annotations

import itertools
import operator
import sys

import numpy as np

from dlpy import Tensor, nn, optim
from dlpy import functional as F
from dlpy.distributed import torch_api as dist
from dlpy.distributed.group import launcher_world_size
from dlpy.distributed.tensor import (
    DTensor,
    Partial,
    Replicate,
    Shard,
    distribute_tensor,
    init_device_mesh,
)
from dlpy.distributed.tensor.parallel import (
    ColwiseParallel,
    PrepareModuleInput,
    PrepareModuleOutput,
    RowwiseParallel,
    SequenceParallel,
    parallelize_module,
)

CHECKS = {}
TP_CHECKS = {}  # the tensor-parallel ones (test_tensor_parallel.py); CHECKS holds all


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


def tp_check(fn):
    TP_CHECKS[fn.__name__] = fn
    return check(fn)


def expect(kind, fragment, fn):
    try:
        fn()
    except kind as error:
        assert fragment in str(error), str(error)
    else:
        raise AssertionError(f"no {kind.__name__} ({fragment})")


def diff(difference):
    """The largest absolute value (0 for an empty piece: a rank may hold none)."""
    return float(np.abs(difference).max()) if np.size(difference) else 0.0


def piece(array, spec_placements, mesh):
    """The expected local piece of a global array (torch.chunk rule), computed by hand."""
    for mesh_dim, placement in enumerate(spec_placements):
        if placement.is_shard():
            n, r = mesh.size(mesh_dim), mesh.get_local_rank(mesh_dim)
            step = -(-array.shape[placement.dim] // n)
            index = [slice(None)] * array.ndim
            index[placement.dim] = slice(r * step, (r + 1) * step)
            array = array[tuple(index)]
    return array


# ----------------------------------------------------------------- meshes
@check
def mesh_1d():
    world, rank = dist.get_world_size(), dist.get_rank()
    mesh = init_device_mesh("cpu", (world,), mesh_dim_names=("dp",))
    assert mesh.mesh.data.tolist() == list(range(world))
    assert mesh.size() == world and mesh.size(0) == world and mesh.ndim == 1
    assert mesh.get_local_rank() == rank and mesh.get_coordinate() == [rank]
    assert dist.get_process_group_ranks(mesh.get_group()) == list(range(world))
    assert mesh["dp"] is mesh and mesh.mesh_dim_names == ("dp",)
    return repr(mesh)


@check
def mesh_2d():
    world, rank = dist.get_world_size(), dist.get_rank()
    shapes = [(2, world // 2)] if world > 2 else [(1, 2), (2, 1)]
    for shape in shapes:
        mesh = init_device_mesh("cpu", shape, mesh_dim_names=("dp", "tp"))
        grid = np.arange(world).reshape(shape)
        i, j = (int(c) for c in np.argwhere(grid == rank)[0])
        assert mesh.get_coordinate() == [i, j]
        assert mesh.get_local_rank("dp") == i and mesh.get_local_rank("tp") == j
        assert dist.get_process_group_ranks(mesh.get_group("dp")) == grid[:, j].tolist()
        assert dist.get_process_group_ranks(mesh.get_group("tp")) == grid[i, :].tolist()
        tp = mesh["tp"]
        assert tp.mesh.data.tolist() == grid[i, :].tolist() and tp.get_local_rank() == j
        assert tp.get_group() is mesh.get_group("tp") and mesh["dp"].size() == shape[0]
        # a collective over one mesh dimension reaches that line only
        value = np.array([float(rank)])
        dist.all_reduce(value, group=mesh.get_group("tp"))
        assert value[0] == grid[i, :].sum()
    return f"{shapes}"


# ----------------------------------------------------------------- DTensor layouts
PLACEMENTS = [Shard(0), Shard(1), Replicate(), Partial()]


def global_value(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


def make(value, mesh, placement):
    """A leaf DTensor of ``value`` in ``placement`` (Partial: rank r holds a share), whose
    local tensor is returned too (for its gradient)."""
    if placement.is_partial():
        n, r = mesh.size(), mesh.get_local_rank()
        shares = np.random.default_rng(7).normal(size=(n, *value.shape))
        shares[-1] = value - shares[:-1].sum(axis=0)
        local = Tensor(shares[r].copy(), requires_grad=True)
    else:
        local = Tensor(piece(value, [placement], mesh).copy(), requires_grad=True)
    return DTensor.from_local(local, mesh, [placement], shape=value.shape), local


@check
def distribute_uneven():
    """5 x 7 over N ranks: torch.chunk's pieces (some ranks may hold less, or none)."""
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    value = global_value((5, 7))
    sizes = []
    for placement in (Shard(0), Shard(1), Replicate(), Shard(-1), Partial()):
        dt = distribute_tensor(Tensor(value), mesh, [placement])
        assert dt.shape == (5, 7) and dt.placements[0] == (Shard(1) if placement == Shard(-1)
                                                           else placement)
        want = value / mesh.size() if placement.is_partial() else \
            piece(value, dt.placements, mesh)
        assert np.array_equal(dt.to_local().data, want)
        assert diff(dt.full_tensor().data - value) < 1e-15
        sizes.append(dt.to_local().shape)
    return f"local shapes {sizes}"


@check
def distribute_from_rank_0():
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    mine = np.full((4, 2), float(dist.get_rank()))
    dt = distribute_tensor(Tensor(mine), mesh, [Shard(0)])
    assert (dt.full_tensor().data == 0).all()  # rank 0's values
    own = distribute_tensor(Tensor(mine), mesh, [Shard(0)], src_data_rank=None)
    assert (own.to_local().data == dist.get_rank()).all()
    return "ok"


@check
def redistribute_all_transitions():
    """Every pair of S(0), S(1), R, P: values, and the gradient of sum(C * full) through the
    redistribute (its backward is the reverse collective) back to the source's local."""
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    value, weights = global_value((5, 6)), global_value((5, 6), seed=1)
    done = []
    for source, target in itertools.product(PLACEMENTS, PLACEMENTS):
        dt, local = make(value, mesh, source)
        if target.is_partial() and not source.is_partial():  # torch's rule: internal only
            expect(RuntimeError, "redistributing to Partial is for internal use only",
                   lambda: dt.redistribute(placements=[target]))  # noqa: B023
            continue
        moved = dt.redistribute(placements=[target])
        assert moved.placements == (target,)
        if not target.is_partial():
            assert np.allclose(moved.to_local().data, piece(value, [target], mesh),
                               atol=1e-12), (source, target)
        full = moved.full_tensor()
        assert diff(full.data - value) < 1e-12, (source, target)
        (full * Tensor(weights)).sum().backward()
        want = weights if source.is_partial() else piece(weights, [source], mesh)
        assert diff(local.grad.data - want) < 1e-12, (source, target)
        done.append(f"{source}->{target}")
    return f"{len(done)} transitions"


@check
def to_local_grad_placements():
    """to_local(grad_placements=[Partial()]) of a Replicate DTensor: the ranks' gradients
    are summed on the way back."""
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    dt, local = make(global_value((3, 2)), mesh, Replicate())
    out = dt.to_local(grad_placements=[Partial()])
    out.backward(np.full((3, 2), float(dist.get_rank() + 1)))
    n = dist.get_world_size()
    assert np.allclose(local.grad.data, n * (n + 1) / 2)
    return "ok"


@check
def matmul_rules():
    """Sharding propagation of x @ w against numpy, with the gradients of sum(C * (x @ w))."""
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    x, w, c = global_value((4, 6)), global_value((6, 5), 1), global_value((4, 5), 2)
    cases = [((Replicate(), Shard(1)), Shard(1)), ((Shard(1), Shard(0)), Partial()),
             ((Shard(0), Replicate()), Shard(0)), ((Replicate(), Replicate()), Replicate()),
             ((Partial(), Replicate()), Partial()), ((Replicate(), Partial()), Partial())]
    for (px, pw), expected in cases:
        dx, lx = make(x, mesh, px)
        dw, lw = make(w, mesh, pw)
        out = dx @ dw
        assert out.placements == (expected,) and out.shape == (4, 5), (px, pw, out.placements)
        full = out.full_tensor()
        assert diff(full.data - x @ w) < 1e-12
        (full * Tensor(c)).sum().backward()
        for local, placement, grad in ((lx, px, c @ w.T), (lw, pw, x.T @ c)):
            want = grad if placement.is_partial() else piece(grad, [placement], mesh)
            assert diff(local.grad.data - want) < 1e-12, (px, pw, placement)
    expect(ValueError, "no sharding rule", lambda: make(x, mesh, Shard(0))[0]
           @ make(w, mesh, Shard(1))[0])
    return f"{len(cases)} rules"


@check
def elementwise_rules():
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    a, b, bias = global_value((4, 6)), global_value((4, 6), 1), global_value((6,), 2)
    c = global_value((4, 6), 3)
    cases = [("add", Shard(0), Shard(0), a, b, Shard(0)),
             ("mul", Shard(1), Replicate(), a, b, Shard(1)),
             ("add", Shard(0), Replicate(), a, bias, Shard(0)),  # bias broadcasts along dim 0
             ("add", Shard(1), Replicate(), a, bias, Shard(1)),  # bias cut to the piece
             ("add", Partial(), Replicate(), a, b, Partial()),
             ("sub", Partial(), Partial(), a, b, Partial()),
             ("mul", Partial(), Replicate(), a, b, Partial()),
             ("div", Partial(), Replicate(), a, b + 3.0, Partial())]
    ops = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}
    for name, pa, pb, va, vb, expected in cases:
        da, la = make(va, mesh, pa)
        db, lb = make(vb, mesh, pb)
        out = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
               "div": operator.truediv}[name](da, db)
        assert out.placements == (expected,), (name, pa, pb, out.placements)
        full = out.full_tensor()
        assert diff(full.data - ops[name](va, vb)) < 1e-12, (name, pa, pb)
        (full * Tensor(c)).sum().backward()
        grads = {"add": (c, c), "sub": (c, -c), "mul": (c * vb, c * va),
                 "div": (c / vb, -c * va / vb ** 2)}[name]
        for local, placement, grad, value in ((la, pa, grads[0], va), (lb, pb, grads[1], vb)):
            grad = grad if grad.shape == value.shape else grad.sum(axis=0)
            want = grad if placement.is_partial() else piece(grad, [placement], mesh)
            assert diff(local.grad.data - want) < 1e-12, (name, pa, pb, placement)
    expect(ValueError, "Partial mul Partial", lambda: make(a, mesh, Partial())[0]
           * make(b, mesh, Partial())[0])
    expect(ValueError, "mismatched placements", lambda: make(a, mesh, Shard(0))[0]
           + make(b, mesh, Shard(1))[0])
    expect(RuntimeError, "mixed Tensor and DTensor", lambda: make(a, mesh, Shard(0))[0]
           @ Tensor(b.T))
    expect(NotImplementedError, "'softmax'", lambda: F.softmax(make(a, mesh, Shard(0))[0]))
    relu = F.relu(make(a, mesh, Shard(1))[0])
    assert relu.placements == (Shard(1),) and np.array_equal(relu.full_tensor().data,
                                                             np.maximum(a, 0))
    expect(ValueError, "not the sum of relus", lambda: F.relu(make(a, mesh, Partial())[0]))
    return f"{len(cases)} rules"


# ----------------------------------------------------------------- tensor parallelism
D_MODEL, HEADS, HIDDEN, SEQ = 8, 4, 12, 5


class MLP(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.fc1 = nn.Linear(D_MODEL, HIDDEN, rng=rng, dtype=np.float64)
        self.fc2 = nn.Linear(HIDDEN, D_MODEL, rng=rng, dtype=np.float64)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Attention(nn.Module):
    """Multi-head self-attention whose q, k, v, o are Linear layers; the number of heads is
    read from the projections (-1), so each rank runs its own share of heads."""

    def __init__(self, rng):
        super().__init__()
        self.head_dim = D_MODEL // HEADS
        # k without bias: a bias on the keys shifts every score of a row alike, so its true
        # gradient is 0 and Adam would amplify rounding noise (~1e-17) into its steps
        self.q, self.k, self.v, self.o = (
            nn.Linear(D_MODEL, D_MODEL, bias=name != "k", rng=rng, dtype=np.float64)
            for name in "qkvo")

    def forward(self, x):  # (batch, seq, d_model)
        batch, seq, _ = x.shape

        def heads(t):  # (batch, heads here, seq, head_dim)
            return t.reshape(batch, seq, -1, self.head_dim).transpose(1, 2)

        q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
        weights = F.softmax(q @ k.transpose(-1, -2) / np.sqrt(self.head_dim), -1)
        out = (weights @ v).transpose(1, 2).reshape(batch, seq, -1)
        return self.o(out)


class Block(nn.Module):
    """x + attention(norm(x)), then + mlp(norm(.)), then a linear head."""

    def __init__(self, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.norm1 = nn.LayerNorm(D_MODEL, dtype=np.float64)
        self.attn = Attention(rng)
        self.norm2 = nn.LayerNorm(D_MODEL, dtype=np.float64)
        self.mlp = MLP(rng)
        self.head = nn.Linear(D_MODEL, 3, rng=rng, dtype=np.float64)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return self.head(x).mean(axis=1)


TP_PLAN = {"attn.q": ColwiseParallel(), "attn.k": ColwiseParallel(),
           "attn.v": ColwiseParallel(), "attn.o": RowwiseParallel(),
           "mlp.fc1": ColwiseParallel(), "mlp.fc2": RowwiseParallel()}


def batch(step, size=4):
    rng = np.random.default_rng(100 + step)
    return rng.normal(size=(size, SEQ, D_MODEL)), rng.integers(0, 3, size=size)


def train(model, optimizer, steps, part=None, after_backward=None):
    for step in range(steps):
        x, y = batch(step)
        if part is not None:
            x, y = x[part], y[part]
        loss = F.cross_entropy(model(Tensor(x)), y)
        optimizer.zero_grad()
        loss.backward()
        if after_backward is not None:
            after_backward()
        optimizer.step()
    return model


def make_optimizer(kind, params):
    return optim.SGD(params, lr=0.1, momentum=0.9) if kind == "sgd" \
        else optim.Adam(params, lr=0.01)


def largest_difference(model, reference):
    """Over all parameters: the gathered DTensors against the single-process model's."""
    worst = 0.0
    for (name, p), (_, q) in zip(model.named_parameters(), reference.named_parameters()):
        full = p.full_tensor().data if isinstance(p, DTensor) else p.data
        assert full.shape == q.data.shape, name
        worst = max(worst, diff(full - q.data))
    return worst


def reference(kind, steps, seed=0):
    model = Block(seed)
    return train(model, make_optimizer(kind, model.parameters()), steps)


@tp_check
def megatron_mlp_and_attention():
    """Colwise q/k/v + rowwise o (heads split over the ranks), colwise fc1 + rowwise fc2:
    3 SGD-momentum steps and 3 Adam steps equal one process to 1e-12 (float64)."""
    mesh = init_device_mesh("cpu", (dist.get_world_size(),), mesh_dim_names=("tp",))
    worst = []
    for kind in ("sgd", "adam"):
        model = parallelize_module(Block(), mesh, TP_PLAN)
        shard = model.attn.q.weight
        assert isinstance(shard, DTensor) and shard.placements == (Shard(0),)
        assert model.mlp.fc2.weight.placements == (Shard(1),)
        assert model.mlp.fc2.bias.placements == (Replicate(),)
        train(model, make_optimizer(kind, model.parameters()), 3)
        worst.append(largest_difference(model, reference(kind, 3)))
        assert worst[-1] < 1e-12, worst
    return "largest differences " + ", ".join(f"{w:.1e}" for w in worst)


@tp_check
def wildcard_plan_and_local_shapes():
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    model = parallelize_module(Block(), mesh, {"attn.[qkv]": ColwiseParallel(),
                                               "attn.o": RowwiseParallel(),
                                               "*.fc1": ColwiseParallel(),
                                               "*.fc2": RowwiseParallel()})
    n, r = mesh.size(), mesh.get_local_rank()
    step = -(-HIDDEN // n)
    rows = min((r + 1) * step, HIDDEN) - min(r * step, HIDDEN)
    assert model.mlp.fc1.weight.data.shape == (rows, D_MODEL)
    assert model.mlp.fc1.weight.shape == (HIDDEN, D_MODEL)
    train(model, make_optimizer("adam", model.parameters()), 2)
    ref = reference("adam", 2)
    worst = largest_difference(model, ref)
    assert worst < 1e-12, worst
    # state_dict() holds DTensors; a full (one-process) state dict loads as pieces
    saved = model.state_dict()["mlp.fc1.weight"]
    assert isinstance(saved, DTensor) and saved.data.shape == (rows, D_MODEL)
    fresh = parallelize_module(Block(seed=1), mesh, TP_PLAN)
    fresh.load_state_dict(ref.state_dict())
    assert largest_difference(fresh, ref) == 0.0
    return f"largest difference {worst:.1e}"


@tp_check
def sequence_parallel():
    """LayerNorm on a sequence-sharded input (SequenceParallel), fc1 gathering it
    (input_layouts=Shard(1)), fc2 reduce-scattering back (output_layouts=Shard(1))."""
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    n, r = mesh.size(), mesh.get_local_rank()

    def build(seed=3):
        rng = np.random.default_rng(seed)
        return nn.Sequential(nn.LayerNorm(D_MODEL, dtype=np.float64),
                             nn.Linear(D_MODEL, HIDDEN, rng=rng, dtype=np.float64), nn.Tanh(),
                             nn.Linear(HIDDEN, D_MODEL, rng=rng, dtype=np.float64))

    seq = 2 * n  # even pieces (from_local's shapes)
    x = np.random.default_rng(5).normal(size=(3, seq, D_MODEL))
    c = np.random.default_rng(6).normal(size=(3, seq, D_MODEL))
    ref = build()
    (ref(Tensor(x)) * Tensor(c)).sum().backward()
    model = parallelize_module(build(), mesh, {
        "0": SequenceParallel(),
        "1": ColwiseParallel(input_layouts=Shard(1)),
        "3": RowwiseParallel(output_layouts=Shard(1))})
    mine = slice(2 * r, 2 * r + 2)
    out = model(Tensor(x[:, mine].copy()))  # this rank's stretch of the sequence
    assert out.shape == (3, 2, D_MODEL)
    assert diff(out.data - ref(Tensor(x)).data[:, mine]) < 1e-12
    (out * Tensor(c[:, mine].copy())).sum().backward()
    worst = 0.0
    for p, q in zip(model.parameters(), ref.parameters()):
        grad = p.grad.data
        want = piece(q.grad.data, p.placements, mesh) if isinstance(p, DTensor) else q.grad.data
        worst = max(worst, diff(grad - want))
    assert worst < 1e-12, worst
    return f"largest gradient difference {worst:.1e}"


@tp_check
def prepare_module_input_output():
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    n, r = mesh.size(), mesh.get_local_rank()
    rng = np.random.default_rng(1)
    seen = {}

    class Probe(nn.Module):
        def forward(self, a, b):
            seen["a"], seen["b"] = a, b
            return a + b

    probe = parallelize_module(Probe(), mesh, PrepareModuleInput(
        input_layouts=(Shard(0), None), desired_input_layouts=(Replicate(), None)))
    full = rng.normal(size=(2 * n, 3))
    out = probe(Tensor(full[2 * r:2 * r + 2].copy()), 1.0)
    assert isinstance(out, DTensor) and np.allclose(out.to_local().data, full + 1.0)
    assert seen["b"] == 1.0 and seen["a"].placements == (Replicate(),)
    lin = parallelize_module(nn.Linear(3, 4, rng=rng, dtype=np.float64), mesh,
                             PrepareModuleOutput(output_layouts=Replicate(),
                                                 desired_output_layouts=Shard(0)))
    out = lin(Tensor(full))
    assert type(out) is Tensor and out.shape == (2, 4)
    want = full @ lin.weight.data.T + lin.bias.data
    assert diff(out.data - want[2 * r:2 * r + 2]) < 1e-12
    return "ok"


@tp_check
def dp_tp_2d_mesh():
    """dp x tp: TP over mesh["tp"], each dp rank trains on its half of the batch and the
    gradients are averaged over mesh["dp"] (DDP-style): equals one process on the whole batch
    to 1e-12."""
    world = dist.get_world_size()
    shapes = [(2, world // 2)] if world > 2 else [(1, 2), (2, 1)]
    worst = []
    for shape in shapes:
        mesh = init_device_mesh("cpu", shape, mesh_dim_names=("dp", "tp"))
        dp = mesh.get_group("dp")
        model = parallelize_module(Block(), mesh["tp"], TP_PLAN)
        size = shape[0]

        def average(model=model, dp=dp):
            for p in model.parameters():
                dist.all_reduce(p.grad, op=dist.ReduceOp.AVG, group=dp)

        rows = slice(mesh.get_local_rank("dp") * 4 // size,
                     (mesh.get_local_rank("dp") + 1) * 4 // size)
        train(model, make_optimizer("adam", model.parameters()), 3, rows, average)
        worst.append(largest_difference(model, reference("adam", 3)))
        assert worst[-1] < 1e-12, (shape, worst)
    return ", ".join(f"{s}: {w:.1e}" for s, w in zip(shapes, worst))


@check
def errors():
    world = dist.get_world_size()
    expect(RuntimeError, "must equal the world size",
           lambda: init_device_mesh("cpu", (world + 1,)))
    mesh = init_device_mesh("cpu", (world,))
    expect(IndexError, "Dimension out of range",
           lambda: distribute_tensor(Tensor(np.zeros((2, 2))), mesh, [Shard(2)]))
    expect(ValueError, "same length as `device_mesh.ndim`",
           lambda: distribute_tensor(Tensor(np.zeros((2, 2))), mesh, [Shard(0), Shard(1)]))
    expect(ValueError, "every rank must pass a tensor of the same shape",
           lambda: distribute_tensor(Tensor(np.zeros((2, dist.get_rank() + 1))), mesh))
    flat = init_device_mesh("cpu", (1, world), mesh_dim_names=("dp", "tp"))
    expect(ValueError, "only accepts a 1D DeviceMesh",
           lambda: parallelize_module(MLP(np.random.default_rng(0)), flat,
                                      {"fc1": ColwiseParallel()}))
    expect(NotImplementedError, "only support nn.Linear",
           lambda: parallelize_module(nn.LayerNorm(4), mesh, ColwiseParallel()))
    return "ok"


# on 4 ranks (a 2 x 2 mesh) only the 2-D checks run: the others are the 2-rank ones again
FOUR_RANK_CHECKS = ("mesh_2d", "dp_tp_2d_mesh")
if launcher_world_size() == 4:
    CHECKS = {name: CHECKS[name] for name in FOUR_RANK_CHECKS}

if __name__ == "__main__":
    from worker_checks import run_checks  # run as a script from this folder

    run_checks(CHECKS, sys.argv[1], "dtensor_worker")
