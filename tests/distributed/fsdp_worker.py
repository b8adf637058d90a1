"""``mpirun -n N python fsdp_worker.py OUT.json``: FullyShardedDataParallel on N ranks (2 or 3).

Every rank also trains the same model in one process on the whole batch (the reference), so
each check compares on the spot. An exception is recorded, not raised; rank 0 writes
{check: {"0": "ok" or the error, ...}} to OUT.json for test_fsdp.py (one test per check).
"""

from __future__ import annotations

import functools
import sys

import numpy as np

from dlpy import Tensor, nn, optim
from dlpy import functional as F
from dlpy.distributed import fsdp
from dlpy.distributed.fsdp import (
    FullStateDictConfig,
    ModuleWrapPolicy,
    ShardingStrategy,
    StateDictType,
)
from dlpy.distributed.fsdp import (
    FullyShardedDataParallel as FSDP,
)

CHECKS = {}
STRATEGIES = (ShardingStrategy.FULL_SHARD, ShardingStrategy.SHARD_GRAD_OP,
              ShardingStrategy.NO_SHARD)
BATCH = 12  # divisible by 2 and 3 ranks


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


class Net(nn.Module):
    """A small Transformer classifier: input projection, two encoder layers, head."""

    def __init__(self, seed: int = 0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.embed = nn.Linear(5, 8, rng=rng, dtype=np.float64)
        self.layers = nn.Sequential(*[
            nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, rng=rng, dtype=np.float64,
                                       bias=False, batch_first=True)
            for _ in range(2)])
        self.head = nn.Linear(8, 3, rng=rng, dtype=np.float64)

    def forward(self, x):
        return self.head(self.layers(self.embed(x)).mean(axis=1))


def buffered_net():
    """Parameters and buffers in every module, one of them in a nested unit (a ModuleDict)."""
    rng = np.random.default_rng(0)
    block = nn.Sequential(nn.Linear(4, 4, rng=rng), nn.BatchNorm1d(4))
    return nn.Sequential(nn.Linear(3, 4, rng=rng), nn.BatchNorm1d(4),
                         nn.ModuleDict({"block": block}), nn.Linear(4, 2, rng=rng))


def data(step: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(100 + step)
    return rng.normal(size=(BATCH, 4, 5)), rng.integers(0, 3, size=BATCH)


def mine(array: np.ndarray) -> np.ndarray:
    from dlpy.distributed import group

    n, r = group.world_size(), group.rank()
    size = len(array) // n
    return array[r * size:(r + 1) * size]


def loss_of(model, x, y):
    return F.cross_entropy(model(Tensor(x)), y)


def make_optimizer(kind: str, params):
    if kind == "adam":
        return optim.Adam(params, lr=0.01, weight_decay=0.01)
    return optim.SGD(params, lr=0.1, momentum=0.9)


def reference(steps: int, kind: str, clip: float | None = None):
    model = Net()
    opt = make_optimizer(kind, model.parameters())
    for step in range(steps):
        x, y = data(step)
        opt.zero_grad()
        loss_of(model, x, y).backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
    return model, opt


def wrap(strategy, policy="layers", **kwargs):
    policies = {
        "layers": ModuleWrapPolicy({nn.TransformerEncoderLayer}),
        "size": functools.partial(fsdp.size_based_auto_wrap_policy, min_num_params=100),
        "none": None,
    }
    return FSDP(Net(seed=0), sharding_strategy=strategy, auto_wrap_policy=policies[policy],
                **kwargs)


def train(model, steps: int, kind: str, clip: float | None = None):
    opt = make_optimizer(kind, model.parameters())
    norms = []
    for step in range(steps):
        x, y = data(step)
        opt.zero_grad()
        loss_of(model, mine(x), mine(y)).backward()
        if clip is not None:
            norms.append(float(model.clip_grad_norm_(clip).item()))
        opt.step()
    return opt, norms


def largest_difference(model, ref) -> float:
    full = model.state_dict()
    want = ref.state_dict()
    assert list(full) == list(want), (list(full), list(want))  # torch's order too
    return max(float(np.abs(full[k] - want[k]).max()) for k in want)


def same_as_reference(strategy, policy, kind, **kwargs):
    ref, _ = reference(3, kind)
    model = wrap(strategy, policy, **kwargs)
    train(model, 3, kind)
    diff = largest_difference(model, ref)
    assert diff < 1e-12, diff
    return f"largest difference {diff:.1e}"


for _strategy in STRATEGIES:
    for _policy, _kind in (("layers", "adam"), ("size", "sgd"), ("none", "adam")):
        def _check(strategy=_strategy, policy=_policy, kind=_kind):
            return same_as_reference(strategy, policy, kind)

        _check.__name__ = f"train_{_strategy.name.lower()}_{_policy}_{_kind}"
        check(_check)


@check
def train_use_orig_params():
    return same_as_reference(ShardingStrategy.FULL_SHARD, "layers", "adam", use_orig_params=True)


class Reuse(nn.Module):
    """A block called twice in one forward."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(3)
        self.inp = nn.Linear(5, 8, rng=rng, dtype=np.float64)
        self.block = nn.Linear(8, 8, rng=rng, dtype=np.float64)
        self.out = nn.Linear(8, 3, rng=rng, dtype=np.float64)

    def forward(self, x):
        h = self.inp(x).mean(axis=1).tanh()
        return self.out(self.block(self.block(h).tanh()).tanh())


@check
def unit_called_twice_two_graphs_one_backward():
    """A unit used twice per forward, two forwards summed into one backward, and a forward
    whose graph is dropped: the gradients of one process."""
    out = []
    for strategy in STRATEGIES:
        ref = Reuse()
        model = FSDP(Reuse(), sharding_strategy=strategy,
                     auto_wrap_policy=ModuleWrapPolicy({nn.Linear}))
        ref_opt, opt = make_optimizer("sgd", ref.parameters()), make_optimizer(
            "sgd", model.parameters())
        for step in range(2):
            (x1, y1), (x2, y2) = data(20 + step), data(30 + step)
            loss_of(model, mine(x1), mine(y1))  # a graph nobody differentiates
            total = loss_of(model, mine(x1), mine(y1)) + loss_of(model, mine(x2), mine(y2))
            opt.zero_grad()
            total.backward()
            opt.step()
            ref_opt.zero_grad()
            (loss_of(ref, x1, y1) + loss_of(ref, x2, y2)).backward()
            ref_opt.step()
        diff = largest_difference(model, ref)
        assert diff < 1e-12, (strategy, diff)
        assert fsdp.parameter_memory()["gathered"] == 0 or strategy is not \
            ShardingStrategy.FULL_SHARD
        out.append(f"{diff:.1e}")
    return ", ".join(out)


@check
def parameters_are_shards():
    from dlpy.distributed import group

    n = group.world_size()
    model = wrap(ShardingStrategy.FULL_SHARD)
    total = sum(p.data.size for p in Net().parameters())
    names = [name for name, _ in model.named_parameters()]
    assert names == ["_fsdp_wrapped_module._flat_param",
                     "_fsdp_wrapped_module.layers.0._fsdp_wrapped_module._flat_param",
                     "_fsdp_wrapped_module.layers.1._fsdp_wrapped_module._flat_param"], names
    kept = sum(p.data.size for p in model.parameters())
    assert total / n <= kept < total / n + 3 * n, (kept, total)
    orig = wrap(ShardingStrategy.FULL_SHARD, use_orig_params=True)
    assert [name for name, _ in orig.named_parameters()][:2] == [
        "_fsdp_wrapped_module.embed.weight", "_fsdp_wrapped_module.embed.bias"]
    return f"{kept} of {total} elements on this rank"


@check
def peak_parameter_memory():
    """FULL_SHARD: the shards plus the root unit and one layer gathered at once; SHARD_GRAD_OP
    keeps every unit gathered from forward to backward."""
    out = []
    for strategy in (ShardingStrategy.FULL_SHARD, ShardingStrategy.SHARD_GRAD_OP):
        model = wrap(strategy)
        units = [m._handle.buffer.nbytes for m in model.modules() if isinstance(m, FSDP)]
        x, y = data(0)
        fsdp.reset_peak_parameter_memory()
        loss_of(model, mine(x), mine(y)).backward()
        peak = fsdp.parameter_memory()["peak_gathered"]
        root, layers = units[0], units[1:]
        expected = root + max(layers) if strategy is ShardingStrategy.FULL_SHARD \
            else root + sum(layers)
        assert peak == expected, (strategy, peak, expected, units)
        assert fsdp.parameter_memory()["gathered"] == 0
        out.append(f"{strategy.name} {peak} B")
    return ", ".join(out)


@check
def no_sync_accumulates():
    ref = Net()
    ref_opt = make_optimizer("sgd", ref.parameters())
    model = wrap(ShardingStrategy.FULL_SHARD)
    opt = make_optimizer("sgd", model.parameters())
    for step in range(2):
        xs = [data(10 + 2 * step), data(11 + 2 * step)]
        ref_opt.zero_grad()
        for x, y in xs:
            loss_of(ref, x, y).backward()
        ref_opt.step()
        opt.zero_grad()
        with model.no_sync():
            loss_of(model, mine(xs[0][0]), mine(xs[0][1])).backward()
        assert all(p.grad is None for p in model.parameters())
        loss_of(model, mine(xs[1][0]), mine(xs[1][1])).backward()
        opt.step()
    diff = largest_difference(model, ref)
    assert diff < 1e-12, diff
    return f"largest difference {diff:.1e}"


@check
def clip_grad_norm_is_global():
    ref, _ = reference(3, "sgd", clip=0.05)
    ref_norms = []
    check_model = Net()
    opt = make_optimizer("sgd", check_model.parameters())
    for step in range(3):
        x, y = data(step)
        opt.zero_grad()
        loss_of(check_model, x, y).backward()
        ref_norms.append(float(nn.utils.clip_grad_norm_(check_model.parameters(), 0.05).item()))
        opt.step()
    for strategy in STRATEGIES:
        model = wrap(strategy)
        _, norms = train(model, 3, "sgd", clip=0.05)
        assert np.allclose(norms, ref_norms, rtol=1e-12, atol=0), (norms, ref_norms)
        diff = largest_difference(model, ref)
        assert diff < 1e-12, (strategy, diff)
    inf = wrap(ShardingStrategy.FULL_SHARD)
    x, y = data(0)
    loss_of(inf, mine(x), mine(y)).backward()
    ref2 = Net()
    loss_of(ref2, x, y).backward()
    want = max(float(np.abs(p.grad).max()) for p in ref2.parameters())
    got = float(inf.clip_grad_norm_(1e9, norm_type=float("inf")).item())
    assert abs(got - want) < 1e-15, (got, want)
    return f"norms {norms}"


@check
def full_state_dict_rank0_only_and_load():
    from dlpy.distributed import group

    model = wrap(ShardingStrategy.FULL_SHARD)
    train(model, 2, "adam")
    config = FullStateDictConfig(offload_to_cpu=True, rank0_only=True)
    with FSDP.state_dict_type(model, StateDictType.FULL_STATE_DICT, config):
        state = model.state_dict()
    assert (state == {}) == (group.rank() != 0), sorted(state)
    whole = model.state_dict()  # back to the default: all ranks
    other = FSDP(Net(seed=7), auto_wrap_policy=ModuleWrapPolicy({nn.TransformerEncoderLayer}))
    other.load_state_dict(whole)
    again = other.state_dict()
    assert all(np.array_equal(again[k], whole[k]) for k in whole)
    plain = Net(seed=5)
    plain.load_state_dict(whole)  # the original names: loads into the unwrapped model
    return f"{len(whole)} entries"


@check
def sharded_and_local_state_dicts_round_trip():
    model = wrap(ShardingStrategy.FULL_SHARD)
    train(model, 1, "adam")
    whole = model.state_dict()
    for kind in (StateDictType.SHARDED_STATE_DICT, StateDictType.LOCAL_STATE_DICT):
        with FSDP.state_dict_type(model, kind):
            saved = model.state_dict()
        other = wrap(ShardingStrategy.FULL_SHARD)
        with FSDP.state_dict_type(other, kind):
            other.load_state_dict(saved)
        loaded = other.state_dict()
        assert all(np.array_equal(loaded[k], whole[k]) for k in whole), kind
    with FSDP.state_dict_type(model, StateDictType.SHARDED_STATE_DICT):
        piece = model.state_dict()["embed.weight"]
    assert isinstance(piece, fsdp.ShardedTensor) and piece.shape == (8, 5)
    return "ok"


@check
def state_dicts_in_module_order():
    """FULL and SHARDED keys in Module.state_dict()'s order (buffers after each module's own
    parameters), and the same values as the unwrapped model's."""
    want = buffered_net().state_dict()
    model = FSDP(buffered_net(), auto_wrap_policy=ModuleWrapPolicy({nn.ModuleDict}))
    full = model.state_dict()
    assert list(full) == list(want), list(full)
    assert all(np.array_equal(full[k], want[k]) for k in want)
    with FSDP.state_dict_type(model, StateDictType.SHARDED_STATE_DICT):
        assert list(model.state_dict()) == list(want)
    return "ok"


@check
def summon_full_params_writeback():
    model = wrap(ShardingStrategy.FULL_SHARD)
    with FSDP.summon_full_params(model):
        names = [n for n, _ in model.named_parameters()]
        assert "_fsdp_wrapped_module.embed.weight" in names, names
        assert model.module.head.weight.shape == (3, 8)
        model.module.head.weight.data[...] = 0.5
    assert np.all(model.state_dict()["head.weight"] == 0.5)
    with FSDP.summon_full_params(model, writeback=False):  # (sharded: the copy is dropped)
        model.module.head.weight.data[...] = 2.0
    assert np.all(model.state_dict()["head.weight"] == 0.5)
    assert [n for n, _ in model.named_parameters()][0] == "_fsdp_wrapped_module._flat_param"
    return "ok"


@check
def optim_state_dict_by_original_names():
    """Flat shards and use_orig_params pieces: the state of one process's Adam by name,
    loaded back (also across the two), and training on from it equals the reference."""
    ref, ref_opt = reference(2, "adam")
    ref4, _ = reference(4, "adam")
    names = [n for n, _ in ref.named_parameters()]
    out = []
    for orig in (False, True):
        model = wrap(ShardingStrategy.FULL_SHARD, use_orig_params=orig)
        opt, _ = train(model, 2, "adam")
        saved = FSDP.optim_state_dict(model, opt)
        assert sorted(saved["state"]) == sorted(names), list(saved["state"])
        assert saved["param_groups"][0]["params"] == list(saved["state"])  # optimiser order
        for i, name in enumerate(names):
            for slot, value in ref_opt.state[i].items():
                got = saved["state"][name][slot]
                assert np.abs(np.asarray(got) - np.asarray(value)).max() < 1e-12, (name, slot)
        for load_orig in (orig, not orig):
            fresh = wrap(ShardingStrategy.FULL_SHARD, use_orig_params=load_orig)
            fresh.load_state_dict(model.state_dict())
            fresh_opt = make_optimizer("adam", fresh.parameters())
            FSDP.optim_state_dict_to_load(fresh, fresh_opt, saved)
            if load_orig == orig:
                for a, b in zip(opt.state, fresh_opt.state):
                    assert all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)
            for step in range(2, 4):  # trains on as the reference
                x, y = data(step)
                fresh_opt.zero_grad()
                loss_of(fresh, mine(x), mine(y)).backward()
                fresh_opt.step()
            diff = largest_difference(fresh, ref4)
            assert diff < 1e-12, (orig, load_orig, diff)
        out.append(f"use_orig_params={orig}: {len(saved['state'])} parameters")
    return ", ".join(out)


# ----------------------------------------------------------------- mixed precision
def small_net(seed: int = 4) -> nn.Module:
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(5, 8, rng=rng), nn.Tanh(), nn.Linear(8, 8, rng=rng),
                         nn.Tanh(), nn.Linear(8, 3, rng=rng))


def small_data(step: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(200 + step)
    return rng.normal(size=(BATCH, 5)).astype(np.float32), rng.integers(0, 3, size=BATCH)


def emulate_mixed_precision(steps: int, precision, ranks: int, rounds=None):
    """One process, by hand: each rank's loss with the float32 master parameters cast to
    param_dtype (inputs too), its gradients cast to reduce_dtype and divided by torch's
    pre-divide factor, summed over the ranks in float32 and rounded (``rounds``: the rank
    groups summed and rounded first, HYBRID's reduce-scatter within then all-reduce across),
    divided by the post-divide factor; SGD on the float32 master with those gradients (in
    param_dtype with keep_low_precision_grads). Returns the master parameters' values."""
    from dlpy.distributed.fsdp import _divide_factors
    from dlpy.tensor import _grad_tensor

    pd = np.dtype(precision.param_dtype)
    rd = np.dtype(precision.reduce_dtype or pd)
    pre, post = _divide_factors(ranks)
    master = small_net()
    opt = make_optimizer("sgd", master.parameters())
    rounds = rounds or [list(range(ranks))]
    for step in range(steps):
        x, y = small_data(step)
        n = BATCH // ranks
        per_rank = []
        for r in range(ranks):
            low = small_net()
            for p, q in zip(low.parameters(), master.parameters()):
                p.data = q.data.astype(pd)
            loss_of(low, x[r * n:(r + 1) * n].astype(pd), y[r * n:(r + 1) * n]).backward()
            per_rank.append([(p.grad.data.astype(rd) / rd.type(pre)).astype(rd)
                             for p in low.parameters()])
        opt.zero_grad()
        for i, p in enumerate(master.parameters()):
            partial = [np.sum([per_rank[r][i].astype(np.float32) for r in group], axis=0
                              ).astype(rd) for group in rounds]
            total = partial[0] if len(partial) == 1 else np.sum(
                [a.astype(np.float32) for a in partial], axis=0).astype(rd)
            grad = (total / rd.type(post)).astype(rd)
            if precision.keep_low_precision_grads:
                p._grad = _grad_tensor(grad.astype(pd))
            else:
                p.grad = grad.astype(np.float32)
        opt.step()
    return {k: v for k, v in master.state_dict().items()}


def train_mixed_precision(steps: int, precision, strategy, **kwargs):
    from dlpy.distributed import group

    model = FSDP(small_net(), sharding_strategy=strategy, mixed_precision=precision,
                 auto_wrap_policy=ModuleWrapPolicy({nn.Linear}), **kwargs)
    opt = make_optimizer("sgd", model.parameters())
    n = BATCH // group.world_size()
    r = group.rank()
    grad_dtypes = set()
    for step in range(steps):
        x, y = small_data(step)
        opt.zero_grad()
        loss = loss_of(model, x[r * n:(r + 1) * n], y[r * n:(r + 1) * n])
        assert loss.dtype == np.dtype(precision.param_dtype), loss.dtype
        loss.backward()
        grad_dtypes |= {str(p.grad.dtype) for p in model.parameters() if p.grad is not None}
        opt.step()
    assert {str(p.dtype) for p in model.parameters()} == {"float32"}  # the master shards
    return model.state_dict(), grad_dtypes


def mixed_precision_cases(bf16=np.float16):
    """(MixedPrecision, label) of three settings. Under mpirun the first is float16, not
    bfloat16: importing ml_dtypes costs each rank 1-4 s (test_fsdp.py runs bfloat16 in one
    process); both take the same path (gathered as bytes, summed in float32)."""
    return [(fsdp.MixedPrecision(param_dtype=bf16), np.dtype(bf16).name),
            (fsdp.MixedPrecision(param_dtype=np.float16, reduce_dtype=np.float32),
             "fp16 reduced in fp32"),
            (fsdp.MixedPrecision(param_dtype=np.float16, keep_low_precision_grads=True),
             "fp16, low-precision grads")]


@check
def mixed_precision_equals_a_hand_written_emulation():
    """Every strategy, three precision settings: bit for bit the emulation's parameters."""
    from dlpy.distributed import group

    out = []
    for precision, label in mixed_precision_cases():
        want = emulate_mixed_precision(2, precision, group.world_size())
        for strategy in STRATEGIES:
            got, grads = train_mixed_precision(2, precision, strategy)
            diff = max(float(np.abs(got[k] - want[k]).max()) for k in want)
            assert diff == 0.0, (label, strategy, diff)
            low = precision.keep_low_precision_grads
            assert grads == ({"float16"} if low else {"float32"}), (label, strategy, grads)
        out.append(label)
    return "equal: " + ", ".join(out)


@check
def errors():
    for bad, kind, fragment in (
            ("FULL", TypeError, "sharding_strategy must be a ShardingStrategy"),
            (None, ValueError, "ignored_modules")):
        try:
            if bad is None:
                FSDP(Net(), ignored_modules=[Net()])
            else:
                FSDP(Net(), sharding_strategy=bad)
        except kind as error:
            assert fragment in str(error), str(error)
        else:
            raise AssertionError(f"no {kind.__name__}")
    return "ok"


if __name__ == "__main__":
    from worker_checks import run_checks  # run as a script from this folder

    run_checks(CHECKS, sys.argv[1], "fsdp_worker")
