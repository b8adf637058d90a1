"""``mpirun -n 2 python tp_more_worker.py OUT.json``: tensor parallelism's embeddings,
loss_parallel, state dicts saved and reloaded (also through dlpy.save / dlpy.load per rank), and
a tiny Llama under torch's usual TP plan, each compared on the spot with one process in float64.
Rank 0 writes {check: {"0": "ok" or the error, ...}} for test_tensor_parallel_more.py."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import numpy as np

import dlpy
from dlpy import Tensor, nn, optim
from dlpy import functional as F
from dlpy.distributed import checkpoint as dcp
from dlpy.distributed import torch_api as dist
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
    RowwiseParallel,
    loss_parallel,
    parallelize_module,
)
from dlpy.models.llama import LlamaConfig, LlamaForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dtensor_worker import (  # noqa: E402  (run as a script from this folder)
    TP_PLAN,
    Block,
    batch,
    diff,
    expect,
    piece,
    train,
)

CHECKS = {}


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


def tp_mesh():
    return init_device_mesh("cpu", (dist.get_world_size(),), mesh_dim_names=("tp",))


def worst_gradient(model, reference) -> float:
    """Over all parameters: this rank's gradient against its piece of the one-process one."""
    worst = 0.0
    for (name, p), (_, q) in zip(model.named_parameters(), reference.named_parameters()):
        want = piece(q.grad.data, p.placements, p.device_mesh) if isinstance(p, DTensor) \
            else q.grad.data
        assert p.grad is not None and p.grad.shape == want.shape, name
        worst = max(worst, diff(p.grad.data - want))
    return worst


# ----------------------------------------------------------------- comparisons
@check
def comparisons_are_dtensors():
    """==, !=, <, <=, >, >= of DTensors (and with numbers): boolean DTensors laid out as the
    operands, whose whole value is the one-process comparison (before: this rank's piece
    compared as a plain Tensor); a Partial operand and a plain Tensor refused."""
    mesh = tp_mesh()
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    y[1] = x[1]  # some equal values
    sx = distribute_tensor(Tensor(x), mesh, [Shard(0)])
    sy = distribute_tensor(Tensor(y), mesh, [Shard(0)])
    ry = distribute_tensor(Tensor(y), mesh, [Replicate()])
    cases = {"==": (sx == sy, x == y), "!=": (sx != ry, x != y), "<": (sx < 0.25, x < 0.25),
             "<=": (sx.le(sy), x <= y), ">": (0.1 > sx, 0.1 > x), ">=": (sx >= ry, x >= y),
             "int < float": (distribute_tensor(Tensor(np.arange(10).reshape(5, 2)), mesh,
                                               [Shard(1)]) < 4.5, np.arange(10).reshape(5, 2)
                             < 4.5)}
    for name, (got, want) in cases.items():
        assert isinstance(got, DTensor) and got.dtype == np.bool_, (name, type(got))
        assert got.placements[0].is_shard(), (name, got.placements)
        assert np.array_equal(got.full_tensor().data, want), name
    assert (sx == None) is False and sx in {sx}  # noqa: E711  (identity hashing kept)
    partial = DTensor.from_local(Tensor(x), mesh, [Partial()])
    for call in (lambda: partial < 0, lambda: sx == partial):
        try:
            call()
        except ValueError as err:
            assert "Partial" in str(err), err
        else:
            raise AssertionError("a Partial comparison ran")
    try:
        _ = sx < Tensor(x)
    except RuntimeError as err:
        assert "mixed Tensor and DTensor" in str(err), err
    else:
        raise AssertionError("a DTensor compared with a plain Tensor")
    return f"{len(cases)} comparisons equal one process's"


# ----------------------------------------------------------------- gradient clipping
@check
def clip_grad_norm_counts_whole_gradients():
    """clip_grad_norm_ / optim.clip_grad_norm on an attention block + MLP under the TP plan
    (colwise, rowwise and replicated parameters): the one-process norm (2, inf, 3) on every
    rank and its clipped gradients (before, each rank clipped by the norm of its pieces)."""
    from dlpy.nn.utils import clip_grad_norm_

    mesh = tp_mesh()
    worst = 0.0
    for norm_type, clip in ((2.0, clip_grad_norm_), (np.inf, optim.clip_grad_norm),
                            (3.0, clip_grad_norm_)):
        ref, model = Block(), parallelize_module(Block(), mesh, TP_PLAN)
        x, y = batch(0)
        totals = []
        for net in (ref, model):
            F.cross_entropy(net(Tensor(x)), y).backward()
            total = clip(net.parameters(), 0.05, norm_type=norm_type)
            totals.append(float(total.item() if isinstance(total, Tensor) else total))
        assert totals[1] > 0.05 and abs(totals[1] - totals[0]) < 1e-12 * totals[0], totals
        every = [None] * mesh.size()
        dist.all_gather_object(every, totals[1])
        assert len(set(every)) == 1, every
        worst = max(worst, worst_gradient(model, ref))
    assert worst < 1e-12, worst
    return f"clipped gradients to {worst:.1e}"


# ----------------------------------------------------------------- embeddings
@check
def embedding_rowwise_and_colwise():
    """Rowwise (vocabulary 11 over the ranks: masked lookups + a Partial sum, all-reduced or
    reduce-scattered over the sequence), colwise (embedding dimension split), torch's default
    Rowwise input (ids Shard(-1), gathered), padding_idx: outputs and weight gradients equal
    one process to 1e-15."""
    mesh = tp_mesh()
    n, r = mesh.size(), mesh.get_local_rank()
    ids = np.array([[0, 3, 10, 5, 3, 7], [9, 1, 6, 3, 2, 4]])
    c = np.random.default_rng(1).normal(size=(2, 6, 6))
    mine = slice(3 * r, 3 * r + 3) if n == 2 else slice(None)
    cases = [  # style, the ids this rank passes, the output's layout, weight's placement
        (RowwiseParallel(input_layouts=Replicate()), ids, Replicate(), Shard(0)),
        (RowwiseParallel(input_layouts=Replicate(), output_layouts=Shard(1)), ids, Shard(1),
         Shard(0)),
        (RowwiseParallel(), ids[:, mine], Replicate(), Shard(0)),  # torch's default: Shard(-1)
        (ColwiseParallel(), ids, Shard(2), Shard(1)),
        (ColwiseParallel(output_layouts=Replicate(), use_local_output=False), ids, Replicate(),
         Shard(1)),
    ]
    worst = 0.0
    for style, given, layout, placement in cases:
        ref = nn.Embedding(11, 6, padding_idx=3, rng=np.random.default_rng(0),
                           dtype=np.float64)
        emb = parallelize_module(nn.Embedding(11, 6, padding_idx=3,
                                              rng=np.random.default_rng(0), dtype=np.float64),
                                 mesh, style)
        assert emb.weight.placements == (placement,), emb.weight.placements
        want = ref(ids)
        (want * Tensor(c)).sum().backward()
        out = emb(Tensor(given))
        assert isinstance(out, DTensor) == (not style.use_local_output), type(out)
        local_out = out.to_local() if isinstance(out, DTensor) else out
        worst = max(worst, diff(local_out.data - piece(want.data, [layout], mesh)))
        (local_out * Tensor(piece(c, [layout], mesh).copy())).sum().backward()
        worst = max(worst, worst_gradient(emb, ref))
        start, end = emb.weight._spec.local_range(0)
        if start <= 3 < end:  # the padding row gets no gradient
            assert not emb.weight.grad.data[3 - start].any()
    assert worst < 1e-15, worst
    return f"largest difference {worst:.1e}"


# ----------------------------------------------------------------- loss_parallel
@check
def loss_parallel_cross_entropy():
    """Logits (4, 11, 3) (torch's (N, C, d1)) sharded on the 11 classes, labels (4, 3):
    mean/sum/none, ignore_index, label smoothing, class weights, nn.CrossEntropyLoss; loss and
    gradient equal one process to 1e-14, and nothing is gathered (no all-gather called)."""
    mesh = tp_mesh()
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(4, 11, 3)) * 3
    labels = rng.integers(0, 11, size=(4, 3))
    labels[1, 2] = labels[3, 0] = -100
    upstream = rng.normal(size=(4, 3))
    weight = rng.uniform(0.5, 2.0, size=11)
    gathers = []
    saved = dist.all_gather_into_tensor, dist.all_gather

    def counting(function):
        def wrapper(*args, **kwargs):
            gathers.append(function.__name__)
            return function(*args, **kwargs)
        return wrapper

    cases = [{}, {"reduction": "sum"}, {"reduction": "none"}, {"label_smoothing": 0.2},
             {"reduction": "none", "label_smoothing": 0.3}, {"weight": weight},
             {"reduction": "sum", "ignore_index": 4}]
    worst = 0.0
    for kwargs in cases + ["module"]:
        target = np.where(labels == -100, 4, labels) if "ignore_index" in kwargs else labels
        x = distribute_tensor(Tensor(logits, requires_grad=True), mesh, [Shard(1)])
        plain = Tensor(logits.copy(), requires_grad=True)
        dist.all_gather_into_tensor, dist.all_gather = (counting(f) for f in saved)
        try:
            with loss_parallel():
                if kwargs == "module":
                    loss = nn.CrossEntropyLoss()(x, target)
                else:
                    loss = F.cross_entropy(x, target, **kwargs)
                assert isinstance(loss, DTensor) and loss.placements == (Replicate(),)
                scale = upstream if loss.ndim else 1.0
                (loss.to_local() * Tensor(scale)).sum().backward()
        finally:
            dist.all_gather_into_tensor, dist.all_gather = saved
        want = F.cross_entropy(plain, target, **({} if kwargs == "module" else kwargs))
        (want * Tensor(scale)).sum().backward()
        worst = max(worst, diff(loss.to_local().data - want.data),
                    diff(x.grad.data - piece(plain.grad.data, [Shard(1)], mesh)))
    assert not gathers, gathers
    assert worst < 1e-14, worst
    x = distribute_tensor(Tensor(logits), mesh, [Shard(1)])
    expect(NotImplementedError, "inside `with loss_parallel():`",
           lambda: F.cross_entropy(x, labels))
    bad = distribute_tensor(Tensor(labels), mesh, [Shard(0)])
    with loss_parallel():
        expect(RuntimeError, "expected labels laid out as (Replicate(),)",
               lambda: F.cross_entropy(x, bad))
    return f"largest difference {worst:.1e}, {len(cases) + 1} cases, no all-gather"


@check
def loss_parallel_on_a_2d_mesh():
    """torch's table: logits (batch, class, seq) = (4, 11, 3) in (Shard(2), Shard(1)) on a
    dp x tp mesh, (1, 2) and (2, 1), take labels (batch, seq) in (Shard(1), Replicate());
    sum (Partial over dp) and none (laid out as the labels), with ignore_index, weight and
    label smoothing: loss (the sums relatively) and gradient equal one process to 1e-14."""
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(4, 11, 3)) * 3
    labels = rng.integers(0, 11, size=(4, 3))
    labels[1, 2] = labels[3, 0] = -100
    upstream = rng.normal(size=(4, 3))
    cases = [{"reduction": "sum"}, {"reduction": "none", "weight": rng.uniform(0.5, 2.0, 11)},
             {"reduction": "sum", "label_smoothing": 0.2}]
    worst = 0.0
    for shape in [(1, 2), (2, 1)]:
        mesh = init_device_mesh("cpu", shape, mesh_dim_names=("dp", "tp"))
        rows = [Shard(1), Replicate()]
        target = distribute_tensor(Tensor(labels), mesh, rows)
        for kwargs in cases:
            x = distribute_tensor(Tensor(logits, requires_grad=True), mesh,
                                  [Shard(2), Shard(1)])
            plain = Tensor(logits.copy(), requires_grad=True)
            with loss_parallel():
                loss = F.cross_entropy(x, target, **kwargs)
            want = F.cross_entropy(plain, labels, **kwargs)
            if loss.ndim:
                assert loss.placements == tuple(rows) and loss.shape == (4, 3)
                scale = upstream
                worst = max(worst, diff(loss.to_local().data - piece(want.data, rows, mesh)))
            else:
                assert loss.placements == (Partial(), Replicate())
                scale = np.ones(())
                total = want.item()  # ~49: relative, 1 ulp is 7e-15
                worst = max(worst, abs(loss.full_tensor().item() - total) / abs(total))
            (loss.to_local() * Tensor(piece(scale, rows, mesh) if loss.ndim else scale)
             ).sum().backward()
            (want * Tensor(scale)).sum().backward()
            worst = max(worst, diff(x.grad.data - piece(plain.grad.data, [Shard(2), Shard(1)],
                                                        mesh)))
        bad = distribute_tensor(Tensor(labels), mesh, [Shard(0), Replicate()])
        with loss_parallel():
            expect(RuntimeError, "expected labels laid out as (Shard(dim=1), Replicate())",
                   lambda x=x, bad=bad: F.cross_entropy(x, bad, reduction="sum"))
    assert worst < 1e-14, worst
    return f"largest difference {worst:.1e}, {len(cases)} cases on (1, 2) and (2, 1)"


# ----------------------------------------------------------------- state dicts
@check
def state_dict_save_and_reload():
    """A TP block's state_dict() (DTensors) loads back into a fresh TP block, also through
    dlpy.save / dlpy.load of each rank's file, through dcp.save / dcp.load, as a full
    one-process state dict, as DTensors in other placements; training then goes on exactly
    as the original's."""
    mesh = tp_mesh()
    model = parallelize_module(Block(seed=0), mesh, TP_PLAN)
    state = model.state_dict()
    q = state["attn.q.weight"]
    assert isinstance(q, DTensor) and q.placements == (Shard(0),) and q.shape == (8, 8)
    assert not q.requires_grad and type(state["norm1.weight"]) is Tensor
    folder = [tempfile.mkdtemp() if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(folder)
    path = os.path.join(folder[0], f"tp-rank{dist.get_rank()}.pt")
    dlpy.save(state, path)
    loaded = dlpy.load(path)
    assert loaded["attn.q.weight"].shape == q.data.shape  # this rank's piece, a plain tensor
    dcp.save(state, checkpoint_id=os.path.join(folder[0], "dcp"))
    from_dcp = parallelize_module(Block(seed=6), mesh, TP_PLAN).state_dict()
    dcp.load(from_dcp, checkpoint_id=os.path.join(folder[0], "dcp"))
    full = {k: v.full_tensor() if isinstance(v, DTensor) else v for k, v in state.items()}
    moved = {k: v.redistribute(placements=[Replicate()]) if isinstance(v, DTensor) else v
             for k, v in state.items()}
    fresh = parallelize_module(Block(seed=5), mesh, TP_PLAN)
    for source in (state, loaded, full, moved, from_dcp):
        for p in fresh.parameters():
            p.data = np.zeros_like(p.data)
        fresh.load_state_dict(source)
        for (name, p), (_, w) in zip(fresh.named_parameters(), model.named_parameters()):
            assert np.array_equal(p.data, w.data), name
    x, _ = batch(0)
    assert np.array_equal(fresh(Tensor(x)).data, model(Tensor(x)).data)
    for net in (fresh, model):
        train(net, optim.SGD(net.parameters(), lr=0.1), 1)
    for (name, p), (_, w) in zip(fresh.named_parameters(), model.named_parameters()):
        assert np.array_equal(p.data, w.data), name
    one_process = Block(seed=5)
    one_process.load_state_dict(full)  # a TP run's weights into the plain model
    wrong = {**state, "attn.q.weight": np.zeros((3, 8))}
    expect(ValueError, "global shape (8, 8) or of this rank's piece (4, 8)",
           lambda: fresh.load_state_dict(wrong))
    dist.barrier()
    if dist.get_rank() == 0:
        shutil.rmtree(folder[0])
    return "state dict, per-rank dlpy.save/load, DCP, full, replicated: exact"


# ----------------------------------------------------------------- a TP Llama
LLAMA_PLAN = {
    "model.embed_tokens": RowwiseParallel(input_layouts=Replicate()),
    "model.layers.*.self_attn.q_proj": ColwiseParallel(),
    "model.layers.*.self_attn.k_proj": ColwiseParallel(),
    "model.layers.*.self_attn.v_proj": ColwiseParallel(),
    "model.layers.*.self_attn.o_proj": RowwiseParallel(),
    "model.layers.*.mlp.gate_proj": ColwiseParallel(),
    "model.layers.*.mlp.up_proj": ColwiseParallel(),
    "model.layers.*.mlp.down_proj": RowwiseParallel(),
    "lm_head": ColwiseParallel(output_layouts=Shard(-1), use_local_output=False),
}


def tiny_llama():
    config = LlamaConfig(vocab_size=13, hidden_size=8, intermediate_size=12,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         tie_word_embeddings=False, max_position_embeddings=16, pad_token_id=0)
    return LlamaForCausalLM(config, rng=np.random.default_rng(0)).double()


@check
def llama_tensor_parallel():
    """A 2-layer Llama (grouped-query attention, vocabulary 13 split 7 + 6) under torch's
    usual TP plan + loss_parallel: logits, loss and every gradient equal one process to
    1e-10 (float64); one Adam step later the parameters still do."""
    mesh = tp_mesh()
    n = mesh.size()
    ref, model = tiny_llama(), parallelize_module(tiny_llama(), mesh, LLAMA_PLAN)
    for layer in model.model.layers:  # each rank runs its share of the heads (torchtitan's)
        layer.self_attn.num_heads //= n
        layer.self_attn.num_kv_heads //= n
    ids = np.random.default_rng(3).integers(1, 13, size=(2, 6))
    ids[1, :2] = 0  # padding tokens
    labels = ids.copy()
    labels[1, :2] = -100
    want = ref(ids, labels=labels)
    want.loss.backward()
    with loss_parallel():
        out = model(ids, labels=labels)
        assert isinstance(out.logits, DTensor) and out.logits.placements == (Shard(2),)
        out.loss.backward()
    worst = {"logits": diff(out.logits.full_tensor().data - want.logits.data),
             "loss": abs(out.loss.item() - want.loss.item()),
             "gradients": worst_gradient(model, ref)}
    for net in (ref, model):
        optim.Adam(net.parameters(), lr=0.01).step()
    worst["after Adam"] = max(
        diff((p.full_tensor().data if isinstance(p, DTensor) else p.data) - q.data)
        for p, q in zip(model.parameters(), ref.parameters()))
    assert max(worst.values()) < 1e-10, worst
    return ", ".join(f"{k} {v:.1e}" for k, v in worst.items())


if __name__ == "__main__":
    from worker_checks import run_checks  # run as a script from this folder

    run_checks(CHECKS, sys.argv[1], "tp_more_worker")
