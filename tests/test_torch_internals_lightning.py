"""torch internals that PyTorch Lightning reaches for at import and in Trainer.fit (the area
third_party_lightning runs the library; these check the pieces directly):
``torch.PyTorchFileReader`` over a torch.save archive, ``torch._C._nn._parse_to``,
``torch._C._TensorMeta``, ``torch.distributed.constants``, ``torch.cuda``'s
get/set_rng_state_all without a device, the DataLoader iterator classes of
``torch.utils.data.dataloader`` and ``torch.utils._pytree._get_node_type``."""

from __future__ import annotations

import collections
import io
from datetime import timedelta

import numpy as np
import pytest

import dlpy
from dlpy import _C, cuda, serialization
from dlpy.data import DataLoader, TensorDataset
from dlpy.data import dataloader as dataloader_names
from dlpy.distributed import constants
from dlpy.utils import _pytree


def test_file_reader_records_round_trip(tmp_path):
    path = tmp_path / "w.pt"
    dlpy.save({"w": dlpy.tensor([1.0, 2.0, 3.0])}, path)
    reader = dlpy.PyTorchFileReader(str(path))
    records = reader.get_all_records()
    assert "data.pkl" in records and "version" in records
    assert all(not name.startswith("archive/") for name in records)
    assert reader.has_record("data.pkl") and not reader.has_record("nope")
    key = next(name for name in records if name.startswith("data/"))
    raw = reader.get_record(key)
    assert np.frombuffer(raw, dtype=np.float32).tolist() == [1.0, 2.0, 3.0]
    with open(path, "rb") as handle:  # the offset is where the stored bytes start
        handle.seek(reader.get_record_offset(key))
        assert handle.read(len(raw)) == raw
    with pytest.raises(RuntimeError):
        reader.get_record("nope")


def test_file_reader_takes_a_buffer():
    buffer = io.BytesIO()
    dlpy.save([1, 2], buffer)
    reader = serialization.PyTorchFileReader(io.BytesIO(buffer.getvalue()))
    assert reader.get_record("version").strip().isdigit()


def test_parse_to():
    parse = _C._nn._parse_to
    assert parse("cpu") == (dlpy.device("cpu"), None, False, None)
    assert parse(dlpy.float64) == (None, dlpy.float64, False, None)
    assert parse(device="cpu", dtype=dlpy.float16, non_blocking=True) == \
        (dlpy.device("cpu"), dlpy.float16, True, None)
    assert parse(dlpy.zeros(1, dtype=dlpy.int32))[:2] == (dlpy.device("cpu"), dlpy.int32)
    assert parse() == (None, None, False, None)
    with pytest.raises(TypeError):
        parse(dlpy.float32, dtype=dlpy.float64)


def test_tensor_meta_is_the_tensor_metaclass():
    assert isinstance(dlpy.Tensor, _C._TensorMeta)


def test_distributed_constants():
    assert constants.default_pg_timeout == timedelta(minutes=30)
    assert constants.default_pg_nccl_timeout is None


def test_cuda_rng_state_all_without_a_device():
    assert cuda.get_rng_state_all() == []
    cuda.set_rng_state_all(cuda.get_rng_state_all())  # nothing to set
    with pytest.raises(RuntimeError):
        cuda.set_rng_state_all([dlpy.get_rng_state()])


def test_dataloader_iterator_classes():
    loader = DataLoader(TensorDataset(dlpy.arange(4.0)), batch_size=2)
    it = iter(loader)
    assert isinstance(it, dataloader_names._BaseDataLoaderIter)
    assert isinstance(it, dataloader_names._SingleProcessDataLoaderIter)
    assert not isinstance(it, dataloader_names._MultiProcessingDataLoaderIter)
    assert issubclass(dataloader_names._MultiProcessingDataLoaderIter,
                      dataloader_names._BaseDataLoaderIter)
    assert not isinstance(iter([1]), dataloader_names._BaseDataLoaderIter)


def test_pytree_get_node_type():
    point = collections.namedtuple("point", "x y")
    assert _pytree._get_node_type(point(1, 2)) is collections.namedtuple
    assert _pytree._get_node_type({"a": 1}) is dict
    assert _pytree._get_node_type(3) is int
