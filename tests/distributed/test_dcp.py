"""dlpy.distributed.checkpoint (torch.distributed.checkpoint's save/load/get_state_dict) in one
process, torch's format both ways, atomicity and errors; under ``mpirun -n 2`` and ``-n 3``
(dcp_worker.py, one test per check): FSDP and ZeRO checkpoints saved on some ranks and loaded
on others. Also DistributedSampler with fewer examples than ranks."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from dlpy import Tensor, nn, optim
from dlpy.distributed import DistributedSampler
from dlpy.distributed import checkpoint as dcp
from dlpy.distributed.checkpoint.api import flat_range_boxes
from dlpy.distributed.checkpoint.metadata import read_metadata
from dlpy.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    get_state_dict,
    set_model_state_dict,
    set_state_dict,
)
from dlpy.distributed.fsdp import FullyShardedDataParallel as FSDP
from dlpy.distributed.fsdp import ModuleWrapPolicy, ShardedTensor
from dlpy.distributed.optim import ZeroRedundancyOptimizer
from dlpy.serialization import UnpicklingError

from .dcp_worker import CHECKS, difference, make_adam, make_net, reference, train
from .worker_launch import mpirun_checks

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
results, test_under_mpirun = mpirun_checks("dcp_worker.py", CHECKS)


# ----------------------------------------------------------------- boxes
@pytest.mark.parametrize("shape", [(), (7,), (3, 4), (2, 3, 4), (4, 1, 5), (2, 0, 3)])
def test_a_flat_range_is_a_few_boxes_in_order(shape):
    total = int(np.prod(shape))
    flat = np.arange(total).reshape(shape)
    rng = np.random.default_rng(0)
    for _ in range(20):
        start, stop = sorted(rng.integers(0, total + 1, size=2)) if total else (0, 0)
        boxes = flat_range_boxes(shape, start, stop)
        got = [flat[tuple(slice(o, o + s) for o, s in zip(off, sizes))].reshape(-1)
               for off, sizes in boxes]
        joined = np.concatenate(got) if got else np.zeros(0, int)
        assert joined.tolist() == list(range(start, stop))
        assert len(boxes) <= max(2 * len(shape) - 1, 1)


# ----------------------------------------------------------------- torch's format
def test_reads_a_checkpoint_torch_wrote():
    want = dict(np.load(FIXTURES / "dcp_torch.npz"))
    state = {"model": {"linear.weight": np.zeros((3, 4), np.float32),
                       "linear.bias": np.zeros(3, np.float32),
                       "count": np.zeros((), np.int64), "mask": np.zeros(3, bool)},
             "optim": {"state": {"linear.weight": {"exp_avg": np.zeros((3, 4)),
                                                   "step": np.zeros((), np.float32)}},
                       "param_groups": [{"lr": 0.0, "betas": (), "params": []}]},
             "epoch": 0, "name": "", "history": []}
    dcp.load(state, checkpoint_id=FIXTURES / "dcp_torch")
    flat = dcp.flatten_state_dict(state)
    for key, value in want.items():
        if not key.startswith("sharded."):
            assert np.array_equal(flat[key][1], value), key
    assert (state["epoch"], state["name"], state["history"]) == (5, "tiny", [1.5, 2.5])
    assert state["optim"]["param_groups"] == [{"lr": 0.01, "betas": (0.9, 0.999),
                                               "params": ["linear.weight", "linear.bias"]}]


def test_reads_torchs_sharded_checkpoint_whole_and_resharded():
    """DTensors torch saved on 2 processes (dim 0, dim 1, replicated) into one process, and
    into 3 ranks' flat ranges (FSDP's ShardedTensor), the ranks of a world of 3 in turn."""
    want = {k[len("sharded."):]: v for k, v in np.load(FIXTURES / "dcp_torch.npz").items()
            if k.startswith("sharded.")}
    path = FIXTURES / "dcp_torch_sharded"
    state = {k: np.zeros_like(v) for k, v in want.items()} | {"n": 0}
    dcp.load(state, checkpoint_id=path)
    assert all(np.array_equal(state[k], v) for k, v in want.items()) and state["n"] == 3
    for key, value in want.items():
        size = -(-value.size // 3)
        pieces = [ShardedTensor(np.zeros(len(range(value.size)[r * size:(r + 1) * size]),
                                         value.dtype), r * size, value.shape)
                  for r in range(3)]
        for piece in pieces:  # each as one rank of 3 would load it
            dcp.load({key: piece}, checkpoint_id=path)
        assert np.array_equal(np.concatenate([p.local for p in pieces]), value.reshape(-1))


def test_writes_torchs_metadata_layout(tmp_path):
    metadata = dcp.save({"w": np.ones((2, 3), np.float32), "n": 4, "l": [np.zeros(2)]},
                        checkpoint_id=tmp_path / "c")
    assert sorted(os.listdir(tmp_path / "c")) == [".metadata", "__0_0.distcp"]
    text = (tmp_path / "c" / ".metadata").read_bytes()
    for name in (b"torch.distributed.checkpoint.metadata\nTensorStorageMetadata",
                 b"torch.distributed.checkpoint.filesystem\n_StorageInfo", b"torch\nfloat32"):
        assert name in text
    again = read_metadata(text, ".metadata")
    assert again.state_dict_metadata == metadata.state_dict_metadata
    assert again.planner_data == {"w": ("w",), "n": ("n",), "l.0": ("l", 0)}
    assert again.state_dict_metadata["w"].chunks == [dcp.ChunkStorageMetadata((0, 0), (2, 3))]


def test_metadata_reader_builds_nothing_else():
    evil = pickle.dumps(print, protocol=2)
    with pytest.raises(UnpicklingError, match="x.metadata: .*global __builtin__.print"):
        read_metadata(evil, "x.metadata")


# ----------------------------------------------------------------- one process
def test_plain_model_and_adam_resume_exactly(tmp_path):
    model = make_net()
    opt = make_adam(model.parameters())
    train(model, opt, range(2))
    model_sd, optim_sd = get_state_dict(model, opt)
    assert sorted(optim_sd["state"]) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert optim_sd["param_groups"][0]["params"] == ["0.weight", "0.bias", "2.weight",
                                                     "2.bias"]
    dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=tmp_path / "c")
    fresh = make_net()
    fresh_opt = make_adam(fresh.parameters())
    model_sd, optim_sd = get_state_dict(fresh, fresh_opt)  # zero state to be filled
    state = {"model": model_sd, "optim": optim_sd}
    dcp.load(state, checkpoint_id=tmp_path / "c")
    set_state_dict(fresh, fresh_opt, model_state_dict=state["model"],
                   optim_state_dict=state["optim"])
    train(fresh, fresh_opt, range(2, 4))
    assert difference(fresh.state_dict(), reference(4)) == 0.0


def test_stateful_objects_save_their_state_dict(tmp_path):
    model = make_net()
    dcp.save({"model": model}, checkpoint_id=tmp_path / "c")
    fresh = nn.Sequential(nn.Linear(5, 7, dtype=np.float64), nn.Tanh(),
                          nn.Linear(7, 3, dtype=np.float64))
    dcp.load({"model": fresh}, checkpoint_id=tmp_path / "c")
    assert difference(fresh.state_dict(), model.state_dict()) == 0.0


@pytest.mark.parametrize("full", [False, True])
def test_fsdp_in_one_process(tmp_path, full):
    options = StateDictOptions(full_state_dict=full)

    def wrapped():
        return FSDP(make_net(), auto_wrap_policy=ModuleWrapPolicy({nn.Linear}))

    model = wrapped()
    opt = make_adam(model.parameters())
    train(model, opt, range(2))
    model_sd, optim_sd = get_state_dict(model, opt, options=options)
    kinds = {type(v) for v in model_sd.values()}
    assert kinds == ({Tensor} if full else {ShardedTensor})  # (torch: Tensors)
    assert sorted(optim_sd["state"]) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=tmp_path / "c")
    fresh = wrapped()
    fresh_opt = make_adam(fresh.parameters())
    model_sd, optim_sd = get_state_dict(fresh, fresh_opt, options=options)
    state = {"model": model_sd, "optim": optim_sd}
    dcp.load(state, checkpoint_id=tmp_path / "c")
    set_state_dict(fresh, fresh_opt, model_state_dict=state["model"],
                   optim_state_dict=state["optim"], options=options)
    train(fresh, fresh_opt, range(2, 4))
    full_sd = get_model_state_dict(fresh, options=StateDictOptions(full_state_dict=True))
    assert difference(full_sd, reference(4)) < 1e-13


@pytest.mark.parametrize("full", [False, True])
def test_zero_in_one_process_loads_into_plain_adam(tmp_path, full):
    options = StateDictOptions(full_state_dict=full)
    model = make_net()
    opt = ZeroRedundancyOptimizer(model.parameters(), optim.Adam, lr=0.05, weight_decay=0.01)
    train(model, opt, range(2))
    model_sd, optim_sd = get_state_dict(model, opt, options=options)
    assert isinstance(optim_sd["state"]["0.weight"]["exp_avg"],
                      np.ndarray if full else ShardedTensor)
    dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=tmp_path / "c")
    fresh = make_net()
    fresh_opt = make_adam(fresh.parameters())
    model_sd, optim_sd = get_state_dict(fresh, fresh_opt)
    state = {"model": model_sd, "optim": optim_sd}
    dcp.load(state, checkpoint_id=tmp_path / "c")
    set_state_dict(fresh, fresh_opt, model_state_dict=state["model"],
                   optim_state_dict=state["optim"])
    train(fresh, fresh_opt, range(2, 4))
    assert difference(fresh.state_dict(), reference(4)) == 0.0


def test_options_and_frozen_parameters():
    model = make_net()
    model[0].bias.requires_grad = False
    opt = optim.SGD([model[0].weight], lr=0.1)
    state = get_model_state_dict(model, options=StateDictOptions(ignore_frozen_params=True))
    assert "0.bias" not in state and "0.weight" in state
    assert get_optimizer_state_dict(model, opt)["state"] == {}  # SGD without momentum
    with pytest.raises(ValueError, match=r"broadcast_from_rank0=True\) needs full_state_dict"):
        get_model_state_dict(model, options=StateDictOptions(broadcast_from_rank0=True))
    with pytest.raises(ValueError, match=r"\(flatten_optimizer_state_dict=True\) is not"):
        get_model_state_dict(model, options=StateDictOptions(flatten_optimizer_state_dict=True))


def test_full_state_dict_load_into_meta_parameters():
    """torch's full-state-dict load: a model with meta tensors takes the loaded tensors
    (assign), keys the state dict lacks keep the model's own (none missing), and a model all
    on meta needs a process group (torch takes its device)."""
    import dlpy

    full = StateDictOptions(full_state_dict=True, strict=False)
    source = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    state = {k: v.clone() for k, v in source.state_dict().items() if k != "1.bias"}
    with dlpy.device("meta"):
        model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    model[1].register_buffer("running_mean", dlpy.zeros(2))  # one tensor off meta
    keys = set_model_state_dict(model, state, options=full)
    assert keys.missing_keys == [] and keys.unexpected_keys == []
    assert isinstance(model[0].weight, nn.Parameter) and not model[0].weight.is_meta
    assert dlpy.equal(model[0].weight, source[0].weight)
    assert model[1].bias.is_meta  # not in the state dict: the model's own, still meta
    with dlpy.device("meta"):
        empty = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        set_model_state_dict(empty, dict(nn.Linear(3, 2).state_dict()), options=full)
    plain = nn.Linear(3, 2)  # not full: load_state_dict's strict check as before
    with pytest.raises(RuntimeError, match="Missing key"):
        set_model_state_dict(plain, {"weight": dlpy.zeros(2, 3)})


# ----------------------------------------------------------------- atomic, errors
def test_a_save_replaces_the_old_checkpoint_whole(tmp_path):
    path = tmp_path / "c"
    dcp.save({"a": np.ones(3), "b": 1}, checkpoint_id=path)
    dcp.save({"a": np.zeros(3)}, checkpoint_id=path)
    assert sorted(os.listdir(tmp_path)) == ["c"]  # nothing staged or old is left
    state = {"a": np.ones(3)}
    dcp.load(state, checkpoint_id=path)
    assert state["a"].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="b is not in the checkpoint"):
        dcp.load({"b": 0}, checkpoint_id=path)


def test_a_directory_holding_other_files_is_not_replaced(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"holds more than a checkpoint \(\['notes.txt'\]"):
        dcp.save({"a": np.ones(3)}, checkpoint_id=tmp_path)
    assert os.listdir(tmp_path) == ["notes.txt"]
    with pytest.raises(ValueError, match="exists and overwrite=False"):
        dcp.save({"a": np.ones(3)}, storage_writer=dcp.FileSystemWriter(tmp_path,
                                                                          overwrite=False))


def test_a_failed_save_keeps_the_old_checkpoint(tmp_path):
    path = tmp_path / "c"
    dcp.save({"a": np.ones(3)}, checkpoint_id=path)
    with pytest.raises(TypeError, match="save: x: save: cannot write a object"):
        dcp.save({"a": np.zeros(3), "x": object()}, checkpoint_id=path)
    assert sorted(os.listdir(tmp_path)) == ["c"]
    state = {"a": np.zeros(3)}
    dcp.load(state, checkpoint_id=path)
    assert state["a"].tolist() == [1, 1, 1]


def test_missing_and_cut_files_are_named(tmp_path):
    path = tmp_path / "c"
    with pytest.raises(FileNotFoundError, match="no checkpoint directory .*c"):
        dcp.load({"a": np.zeros(3)}, checkpoint_id=path)
    (tmp_path / "c.partial-1234abcd").mkdir()
    with pytest.raises(FileNotFoundError, match="an unfinished save left c.partial-1234abcd"):
        dcp.load({"a": np.zeros(3)}, checkpoint_id=path)
    dcp.save({"a": np.arange(100.0), "b": np.ones(2)}, checkpoint_id=path)
    data = path / "__0_0.distcp"
    data.write_bytes(data.read_bytes()[:700])
    with pytest.raises(ValueError, match=r"__0_0.distcp is cut: b needs bytes"):
        dcp.load({"b": np.zeros(2)}, checkpoint_id=path)
    data.write_bytes(b"\0" * 2000)  # long enough, but not a torch.save zip
    with pytest.raises(ValueError, match=r"__0_0.distcp, item a \(bytes 0 to \d+\): .*not a"):
        dcp.load({"a": np.zeros(100)}, checkpoint_id=path)
    os.remove(path / ".metadata")
    with pytest.raises(FileNotFoundError, match=r"\.metadata is missing"):
        dcp.load({"a": np.zeros(100)}, checkpoint_id=path)
    shutil.rmtree(path)


def test_shape_mismatch_is_named(tmp_path):
    dcp.save({"a": np.ones((2, 3))}, checkpoint_id=tmp_path / "c")
    with pytest.raises(ValueError, match=r"a has shape \(2, 3\) in .*the state dict's is "
                                         r"\(3, 2\)"):
        dcp.load({"a": np.zeros((3, 2))}, checkpoint_id=tmp_path / "c")


# ----------------------------------------------------------------- DistributedSampler
def test_sampler_drop_last_with_fewer_examples_than_ranks_is_empty():
    # torch: len(DistributedSampler(range(3), num_replicas=4, rank=r, drop_last=True)) == 0
    for rank in range(4):
        sampler = DistributedSampler(3, num_replicas=4, rank=rank, drop_last=True)
        assert len(sampler) == 0 and list(sampler) == [] and sampler.total_size == 0
    assert len(DistributedSampler(0, num_replicas=2, rank=1, drop_last=True)) == 0


# ----------------------------------------------------------------- async_save, planners, writer
def test_async_save_copies_first_and_writes_save_s_files(tmp_path):
    state = {"w": np.arange(12.0).reshape(3, 4), "t": nn.Linear(2, 2).weight, "n": 3,
             "nested": {"b": np.ones(2, np.float32), "l": [np.zeros(1), "x"]}}
    want = dcp.save(state, checkpoint_id=tmp_path / "sync")
    future = dcp.async_save(state, checkpoint_id=tmp_path / "async")
    state["w"][...] = -1.0  # after the copy: the checkpoint keeps the old values
    state["nested"]["b"][...] = 7
    metadata = future.result(timeout=60)
    assert metadata.state_dict_metadata == want.state_dict_metadata
    for name in ("__0_0.distcp",):
        assert (tmp_path / "async" / name).read_bytes() == (tmp_path / "sync" / name).read_bytes()
    back = {"w": np.zeros((3, 4)), "nested": {"b": np.zeros(2, np.float32)}}
    dcp.load(back, checkpoint_id=tmp_path / "async")
    assert back["w"][2, 3] == 11.0 and back["nested"]["b"].tolist() == [1, 1]


def test_async_save_errors_come_from_result(tmp_path):
    future = dcp.async_save({"x": object()}, checkpoint_id=tmp_path / "c")
    with pytest.raises(TypeError, match="save: x: save: cannot write a object"):
        future.result(timeout=60)
    assert not (tmp_path / "c").exists()
    with pytest.raises(ValueError, match="async_checkpointer_type='PROCESS' is not supported"):
        dcp.async_save({}, checkpoint_id=tmp_path / "c", async_checkpointer_type="PROCESS")


def test_writer_threads_and_a_file_per_item(tmp_path):
    state = {f"w{i}": np.full((i + 1, 3), float(i)) for i in range(5)} | {"a": 1, "b": "two"}
    for kwargs, files in (({"thread_count": 3}, ["__0_0.distcp", "__0_1.distcp",
                                                 "__0_2.distcp"]),
                          ({"single_file_per_rank": False},
                           [f"__0_{i}.distcp" for i in range(7)])):
        path = tmp_path / str(len(files))
        dcp.save(state, storage_writer=dcp.FileSystemWriter(path, **kwargs))
        assert sorted(f for f in os.listdir(path) if f.endswith(".distcp")) == files
        back = {k: (np.zeros_like(v) if isinstance(v, np.ndarray) else None)
                for k, v in state.items()}
        dcp.load(back, storage_reader=dcp.FileSystemReader(path))
        assert all(np.array_equal(back[k], v) for k, v in state.items())
    # torch's split: plain values dealt in turn, tensors largest first to the lightest file
    meta = read_metadata((tmp_path / "3" / ".metadata").read_bytes(), ".metadata")
    where = {k.fqn: v.relative_path for k, v in meta.storage_data.items()}
    assert where == {"a": "__0_0.distcp", "b": "__0_1.distcp", "w4": "__0_0.distcp",
                     "w3": "__0_1.distcp", "w2": "__0_2.distcp", "w1": "__0_2.distcp",
                     "w0": "__0_1.distcp"}
    with pytest.raises(ValueError, match="thread_count must be an int >= 1, got 0"):
        dcp.FileSystemWriter(tmp_path, thread_count=0)


def test_planners_flatten_partial_load_and_a_subclass(tmp_path):
    state = {"model": {"w": np.ones((2, 2)), "b": np.zeros(2)}, "step": 4}
    dcp.save(state, checkpoint_id=tmp_path / "flat", planner=dcp.DefaultSavePlanner())
    meta = dcp.FileSystemReader(tmp_path / "flat").read_metadata()
    assert sorted(meta.state_dict_metadata) == ["model.b", "model.w", "step"]
    dcp.save(state, checkpoint_id=tmp_path / "whole",
             planner=dcp.DefaultSavePlanner(flatten_state_dict=False))
    meta = dcp.FileSystemReader(tmp_path / "whole").read_metadata()
    assert isinstance(meta.state_dict_metadata["model"], dcp.BytesStorageMetadata)
    back = {"model": {}, "step": 0}
    dcp.load(back, checkpoint_id=tmp_path / "whole",
             planner=dcp.DefaultLoadPlanner(flatten_state_dict=False))
    assert back["step"] == 4 and np.array_equal(back["model"]["w"], np.ones((2, 2)))

    partial = {"model": {"w": np.zeros((2, 2)), "extra": np.full(3, 5.0)}}
    with pytest.raises(ValueError, match="model.extra is not in the checkpoint"):
        dcp.load(partial, checkpoint_id=tmp_path / "flat")
    dcp.load(partial, checkpoint_id=tmp_path / "flat",
             planner=dcp.DefaultLoadPlanner(allow_partial_load=True))
    assert partial["model"]["w"].sum() == 4 and partial["model"]["extra"].tolist() == [5] * 3

    class Renaming(dcp.DefaultSavePlanner):
        """A subclass as torch's docs show: rename the keys before planning."""

        def set_up_planner(self, state_dict, storage_meta=None, is_coordinator=False):
            super().set_up_planner({"v2_" + k: v for k, v in state_dict.items()},
                                   storage_meta, is_coordinator)

    class Skipping(dcp.DefaultLoadPlanner):
        """Load only the tensors: plain values keep theirs."""

        def create_local_plan(self):
            plan = super().create_local_plan()
            return dcp.LoadPlan([i for i in plan.items if i.type.name == "TENSOR"])

    dcp.save(state, checkpoint_id=tmp_path / "renamed", planner=Renaming())
    back = {"v2_model": {"w": np.zeros((2, 2)), "b": np.ones(2)}, "v2_step": -1}
    dcp.load(back, checkpoint_id=tmp_path / "renamed", planner=Skipping())
    assert back["v2_step"] == -1 and back["v2_model"]["w"].sum() == 4
    assert back["v2_model"]["b"].sum() == 0
    with pytest.raises(TypeError, match="planner must be a SavePlanner"):
        dcp.save(state, checkpoint_id=tmp_path / "x", planner=dcp.DefaultLoadPlanner())
