"""dlpy.load / dlpy.save: torch.save's zip checkpoints without torch (fixtures made by
tests/fixtures/make_torch_files_fixtures.py, which also loads dlpy.save's files in torch)."""

import copy
import io
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from cases_torch_files import tensors_in

import dlpy
from dlpy import nn, serialization
from dlpy.serialization import UnpicklingError

FIXTURES = Path(__file__).parent / "fixtures" / "torch_files"


@pytest.fixture(scope="module")
def expected():
    with np.load(FIXTURES / "expected.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("name", ["mlp.pt", "optimizer.pt", "checkpoint.pt", "dtypes.pt"])
def test_every_tensor_matches_torch(name, expected):
    tensors = dict(tensors_in(name, dlpy.load(FIXTURES / name), dlpy.Tensor))
    keys = [k for k in expected if k.startswith(f"{name}/") and ":" not in k]
    assert sorted(tensors) == sorted(keys) and keys
    for key in keys:
        tensor, want = tensors[key], expected[key]
        got = tensor.data
        if got.dtype.name == "bfloat16":  # dlpy.bfloat16 kept; the fixture holds float32
            got = got.astype(np.float32)
        assert got.dtype == want.dtype, key
        np.testing.assert_array_equal(got, want, err_msg=key)
        if want.size > 1:  # torch's strides, in elements
            item = tensor.data.itemsize
            assert tuple(s // item for s in tensor.data.strides) == \
                tuple(expected[f"{key}:stride"]), key
        assert tensor.requires_grad == bool(expected[f"{key}:requires_grad"]), key


def test_state_dict_types_views_and_parameters():
    state = dlpy.load(FIXTURES / "mlp.pt")
    assert type(state) is OrderedDict
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias", "scale", "row"]
    assert isinstance(state["scale"], nn.Parameter) and state["scale"].requires_grad
    assert not isinstance(state["0.weight"], nn.Parameter)
    assert np.shares_memory(state["row"].data, state["0.weight"].data)
    state["0.weight"].data[1, 0] = 42.0  # a view into the same storage, as torch's
    assert state["row"].data[0] == 42.0


def test_checkpoint_keeps_numbers_strings_and_containers():
    checkpoint = dlpy.load(FIXTURES / "checkpoint.pt")
    assert checkpoint["epoch"] == 3 and checkpoint["step"] == 2**40
    assert checkpoint["loss"] == 0.125 and checkpoint["name"] == "run-ä"
    assert checkpoint["raw"] == b"\x00\xffab"
    history = checkpoint["history"]
    assert history[0] == [1, 2.5] and history[1] == (3, "x", None, True)


def test_optimizer_state_dict_loads_into_dlpy_adam():
    state = dlpy.load(FIXTURES / "optimizer.pt")
    assert state["param_groups"][0]["lr"] == 0.01
    assert state["param_groups"][0]["betas"] == (0.9, 0.999)
    assert sorted(state["state"]) == [0, 1, 2, 3]
    model = nn.Sequential(nn.Linear(4, 3, dtype=np.float64), nn.ReLU(),
                          nn.Linear(3, 2, dtype=np.float64))
    model.load_state_dict({k: v for k, v in dlpy.load(FIXTURES / "mlp.pt").items()
                           if k not in ("scale", "row")})
    optimizer = dlpy.optim.Adam(model.parameters(), lr=0.01)
    # the optimiser takes arrays (np.asarray of a dlpy Tensor is not its values)
    arrays = {index: {slot: value.data for slot, value in slots.items()}
              for index, slots in state["state"].items()}
    optimizer.load_state_dict({"state": arrays, "param_groups": state["param_groups"]})
    restored = optimizer.state_dict(torch_layout=True)
    np.testing.assert_array_equal(restored["state"][0]["exp_avg"],
                                  state["state"][0]["exp_avg"].data)


def test_load_state_dict_from_a_torch_checkpoint(expected):
    model = nn.Sequential(nn.Linear(4, 3, dtype=np.float64), nn.ReLU(),
                          nn.Linear(3, 2, dtype=np.float64))
    model.load_state_dict(dlpy.load(FIXTURES / "checkpoint.pt")["model"])
    x = np.linspace(-1, 1, 8).reshape(2, 4)
    w1, b1 = expected["checkpoint.pt/model/0.weight"], expected["checkpoint.pt/model/0.bias"]
    w2, b2 = expected["checkpoint.pt/model/2.weight"], expected["checkpoint.pt/model/2.bias"]
    want = np.maximum(x @ w1.T + b1, 0) @ w2.T + b2
    np.testing.assert_allclose(model(dlpy.Tensor(x)).data, want, rtol=1e-12)


def test_save_then_load_round_trips(tmp_path):
    base = np.arange(12.0).reshape(3, 4)
    param = nn.Parameter(np.ones(2))
    obj = {"w": dlpy.Tensor(base), "t": dlpy.Tensor(base.T), "row": dlpy.Tensor(base[1]),
           "p": param, "g": dlpy.Tensor(np.ones(2), requires_grad=True),
           "ints": np.arange(3, dtype=np.int32), "mask": np.array([True, False]),
           "s": np.float64(2.5), "0d": dlpy.Tensor(np.array(7.0)), "c": np.array([1j]),
           "od": OrderedDict(a=1, b=[2, (3, None)]), "big": 2**70, "text": "é", "raw": b"\x01",
           "flipped": dlpy.Tensor(base[::-1])}
    dlpy.save(obj, tmp_path / "x.pt")
    back = dlpy.load(tmp_path / "x.pt")
    assert np.shares_memory(back["w"].data, back["t"].data)
    assert np.shares_memory(back["w"].data, back["row"].data)
    for key in ("w", "t", "row", "p", "g", "ints", "mask", "0d", "c", "flipped"):
        original = obj[key].data if isinstance(obj[key], dlpy.Tensor) else obj[key]
        np.testing.assert_array_equal(back[key].data, original, err_msg=key)
        assert back[key].dtype == original.dtype, key
    assert isinstance(back["p"], nn.Parameter) and back["g"].requires_grad
    assert not back["w"].requires_grad
    assert back["s"] == 2.5 and back["big"] == 2**70 and back["text"] == "é"
    assert back["raw"] == b"\x01" and type(back["od"]) is OrderedDict
    assert back["od"] == OrderedDict(a=1, b=[2, (3, None)])


def test_sets_sizes_and_dtypes_load_with_weights_only():
    # torch writes builtins.set, torch.Size and torch.float64 globals, which its
    # weights_only load allows: a checkpoint's config holding them loads the same way
    buffer = io.BytesIO()
    dlpy.save({"ints": {1, 2}, "shape": dlpy.Size([2, 3]), "dtype": dlpy.float64}, buffer)
    buffer.seek(0)
    back = dlpy.load(buffer, weights_only=True)
    assert back["ints"] == {1, 2} and back["dtype"] == dlpy.float64
    assert type(back["shape"]) is dlpy.Size and back["shape"] == (2, 3)


def test_mmap_load_takes_only_a_path(tmp_path):
    dlpy.save({"a": dlpy.arange(3)}, tmp_path / "m.pt")
    assert dlpy.load(tmp_path / "m.pt", mmap=True)["a"].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="file path"):
        dlpy.load(io.BytesIO((tmp_path / "m.pt").read_bytes()), mmap=True)


def test_save_to_a_file_object_and_reject_what_it_cannot_write(tmp_path):
    buffer = io.BytesIO()
    dlpy.save({"a": np.ones(2, np.float32)}, buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(dlpy.load(buffer)["a"].data, np.ones(2, np.float32))
    with pytest.raises(TypeError, match=r"save: cannot write a frozenset"):
        serialization.save_tree({"a": frozenset({1, 2})}, tmp_path / "bad.pt")
    cycle = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match=r"save: the object contains itself"):
        serialization.save_tree(cycle, tmp_path / "bad.pt")
    assert not (tmp_path / "bad.pt").exists()
    with pytest.raises(ValueError, match=r"pickle_protocol=9"):
        dlpy.save({}, tmp_path / "bad.pt", pickle_protocol=9)
    dlpy.save({"a": 1}, tmp_path / "p1.pt", pickle_protocol=1)  # (written as 2, as torch reads)
    assert dlpy.load(tmp_path / "p1.pt") == {"a": 1}
    # as torch's: a list that holds itself is pickled (and loads, weights_only too)
    dlpy.save(cycle, tmp_path / "cycle.pt")
    back = dlpy.load(tmp_path / "cycle.pt")
    assert back[0] is back
    dlpy.save({"a": np.ones(1)}, tmp_path / "p4.pt", pickle_protocol=4)  # written as protocol 2
    assert dlpy.load(tmp_path / "p4.pt")["a"].tolist() == [1.0]


def test_bad_files_raise_torchs_classes_too(tmp_path):
    """Each also a ValueError (dlpy's): EOFError empty, UnpicklingError not a zip, RuntimeError
    a bad zip; FileNotFoundError with its errno; saving into a missing folder a RuntimeError."""
    import errno
    import pickle
    import zipfile

    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("a.txt", "hi")
    for name, cls in (("empty.pt", EOFError), ("garbage.pt", pickle.UnpicklingError),
                      ("other.zip", RuntimeError)):
        with pytest.raises(cls) as info:
            dlpy.load(tmp_path / name)
        assert isinstance(info.value, ValueError)
    with pytest.raises(FileNotFoundError) as info:
        dlpy.load(tmp_path / "nothere.pt")
    assert info.value.errno == errno.ENOENT
    with pytest.raises(RuntimeError, match="parent directory"):
        dlpy.save([1], tmp_path / "no" / "x.pt")
    assert not (tmp_path / "no").exists()


class TiedModel(nn.Module):
    """A module of the test's own (pickled by reference, as torch pickles one)."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Embedding(5, 4)
        self.decoder = nn.Linear(4, 5)
        self.decoder.weight = self.encoder.weight  # tied: one Parameter under two names
        self.register_buffer("table", np.arange(3.0))
        self.mask = dlpy.Tensor(np.eye(2, dtype=np.float32))


def test_save_a_whole_module_and_load_it_with_weights_only_false(tmp_path):
    # torch.save(model, f) / torch.load(f, weights_only=False) as torch: the object is pickled,
    # its Tensors written as torch's over storages in the archive (a set is torch-loadable)
    model = TiedModel()
    model.extra = {1, 2}
    dlpy.save(model, tmp_path / "model.pt")
    with pytest.raises(UnpicklingError, match=r"model\.pt: the pickle asks for the global "
                                              r"\S*test_torch_files\.TiedModel, which is not "
                                              r"allowed with weights_only=True"):
        dlpy.load(tmp_path / "model.pt")
    with open(tmp_path / "model.pt", "rb") as f:
        back = dlpy.load(f, weights_only=False)
    assert type(back) is TiedModel and back.extra == {1, 2}
    assert back.decoder.weight is back.encoder.weight  # still tied
    assert [n for n, _ in back.named_parameters()] == [n for n, _ in model.named_parameters()]
    for (name, p), q in zip(model.named_parameters(), back.parameters()):
        assert type(q) is nn.Parameter and q.requires_grad, name
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    assert type(back.table) is dlpy.Tensor  # a buffer
    assert type(back.mask) is dlpy.Tensor  # a plain attribute
    np.testing.assert_array_equal(back.table, np.arange(3.0))
    x = np.array([[0, 3]])
    np.testing.assert_array_equal(back.decoder(back.encoder(x)).data,
                                  model.decoder(model.encoder(x)).data)
    # a set alone is torch's weights-only-loadable, and now dlpy's too
    dlpy.save({"a": {1, 2}}, tmp_path / "set.pt")
    assert dlpy.load(tmp_path / "set.pt") == {"a": {1, 2}}


def test_arguments_are_checked():
    with pytest.raises(TypeError, match=r"load: map_location must be None"):
        dlpy.load(FIXTURES / "mlp.pt", map_location=3)
    with pytest.raises(TypeError, match=r"load: map_location returned a int, expected the "
                                        r"storage"):
        dlpy.load(FIXTURES / "mlp.pt", map_location=lambda storage, location: 1)
    with pytest.raises(ZeroDivisionError):  # the function's own error, as it is
        dlpy.load(FIXTURES / "mlp.pt", map_location=lambda storage, location: 1 / 0)
    locations = []
    state = dlpy.load(FIXTURES / "mlp.pt",
                      map_location=lambda storage, location: locations.append(location))
    assert set(locations) == {"cpu"} and "row" in state
    with pytest.raises(TypeError, match=r"load: weights_only must be True or False"):
        dlpy.load(FIXTURES / "mlp.pt", weights_only="yes")
    state = dlpy.load(FIXTURES / "mlp.pt", map_location="cpu", weights_only=False)
    assert "row" in state


# --------------------------------------------------------------------------- hostile files
def rewrite(source: Path, target: Path, replace: dict | None = None, drop=()) -> Path:
    """A copy of ``source``'s archive with members replaced (name suffix -> bytes) or dropped."""
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(target, "w") as out:
        for info in archive.infolist():
            if any(info.filename.endswith(d) for d in drop):
                continue
            data = archive.read(info)
            for suffix, new in (replace or {}).items():
                if info.filename.endswith(suffix):
                    data = new
            out.writestr(info.filename, data)
    return target


def test_truncated_zip_names_the_file(tmp_path):
    data = (FIXTURES / "mlp.pt").read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.pt: not a readable PyTorch zip checkpoint, "
                                         r"the file is cut or corrupted"):
        dlpy.load(path)


def test_missing_storage_member(tmp_path):
    path = rewrite(FIXTURES / "mlp.pt", tmp_path / "missing.pt", drop=["/data/0"])
    with pytest.raises(ValueError, match=r"missing\.pt: the archive has no member "
                                         r"'archive/data/0' \(storage 0\)"):
        dlpy.load(path)


def test_missing_pickle(tmp_path):
    path = rewrite(FIXTURES / "mlp.pt", tmp_path / "nopkl.pt", drop=["data.pkl"])
    with pytest.raises(ValueError, match=r"nopkl\.pt: the archive has no member "
                                         r"'<name>/data.pkl'"):
        dlpy.load(path)


class Evil:
    def __reduce__(self):
        import os
        return os.system, ("echo pwned",)


def test_pickle_calling_os_system_is_refused(tmp_path):
    # weights_only=True (the default, as torch's) builds only tensors and containers;
    # weights_only=False trusts the file, as torch's, and is not tried here
    path = rewrite(FIXTURES / "mlp.pt", tmp_path / "evil.pt",
                   replace={"data.pkl": pickle.dumps({"x": Evil()}, protocol=2)})
    with pytest.raises(UnpicklingError, match=r"evil\.pt: the pickle asks for the global "
                                              r"(posix|os|nt)\.system, which is not allowed "
                                              r"with weights_only=True"):
        dlpy.load(path, weights_only=True)
    with pytest.raises(ValueError):  # also a ValueError, as every bad file
        dlpy.load(path)


def test_storage_shorter_than_the_tensor(tmp_path):
    path = rewrite(FIXTURES / "mlp.pt", tmp_path / "short.pt", replace={"/data/0": b"\0" * 24})
    with pytest.raises(ValueError, match=r"short\.pt: storage 0 \(DoubleStorage\) needs 12 "
                                         r"elements \(96 bytes\), 'archive/data/0' holds 24 bytes"):
        dlpy.load(path)


def test_view_outside_its_storage(tmp_path):
    pkl = zipfile.ZipFile(FIXTURES / "mlp.pt").read("archive/data.pkl")
    # "row" views storage 0 at offset 4; move it past the end (offset is a BININT1 of 4)
    marker = pkl.rindex(b"K\x04K\x04\x85")
    bad = pkl[:marker] + b"K\x0b" + pkl[marker + 2:]
    path = rewrite(FIXTURES / "mlp.pt", tmp_path / "outside.pt", replace={"data.pkl": bad})
    with pytest.raises(ValueError, match=r"outside\.pt: a tensor of size \(4,\), stride \(1,\), "
                                         r"offset 11 needs 15 elements, its storage holds 12"):
        dlpy.load(path)


def test_corrupted_pickle(tmp_path):
    pkl = zipfile.ZipFile(FIXTURES / "mlp.pt").read("archive/data.pkl")
    path = rewrite(FIXTURES / "mlp.pt", tmp_path / "garbled.pt", replace={"data.pkl": pkl[:40]})
    with pytest.raises(ValueError, match=r"garbled\.pt: not a readable PyTorch checkpoint, "
                                         r"the file is cut or corrupted"):
        dlpy.load(path)


def test_big_endian_archive_is_converted(tmp_path, expected):
    with zipfile.ZipFile(FIXTURES / "mlp.pt") as archive:
        swapped = {f"/data/{k}": np.frombuffer(archive.read(f"archive/data/{k}"), "<f8")
                   .astype(">f8").tobytes() for k in range(5)}
    path = rewrite(FIXTURES / "mlp.pt", tmp_path / "big.pt",
                   replace={"byteorder": b"big", **swapped})
    state = dlpy.load(path)
    np.testing.assert_array_equal(state["0.weight"].data, expected["mlp.pt/0.weight"])
    np.testing.assert_array_equal(state["scale"].data, expected["mlp.pt/scale"])


# torch.save({"a": tensor([1.5, -2.0]), "i": tensor([[1, 2], [3, 4]]).t(), "n": 3}, f,
#            _use_new_zipfile_serialization=False) by torch 2.13: the legacy (torch < 1.6) format
LEGACY = bytes.fromhex(
    "80028a0a6cfc9c46f9206aa850192e80024de9032e80027d710028581000000070726f746f636f6c5f766572"
    "73696f6e71014de903580d0000006c6974746c655f656e6469616e710288580a000000747970655f73697a65"
    "7371037d710428580500000073686f727471054b025803000000696e7471064b0458040000006c6f6e677107"
    "4b0475752e80027d710028580100000061710163746f7263682e5f7574696c730a5f72656275696c645f7465"
    "6e736f725f76320a71022828580700000073746f72616765710363746f7263680a466c6f617453746f726167"
    "650a7104580e00000039343033313334383739313736307105580300000063707571064b024e747107514b00"
    "4b028571084b018571098963636f6c6c656374696f6e730a4f726465726564446963740a710a2952710b7471"
    "0c52710d580100000069710e68022828680363746f7263680a4c6f6e6753746f726167650a710f580e000000"
    "3934303331333438373931393034711068064b044e747111514b004b024b028671124b014b0286711389680a"
    "2952711474711552711658010000006e71174b03752e80025d710028580e0000003934303331333438373931"
    "3736307101580e00000039343033313334383739313930347102652e02000000000000000000c03f000000c0"
    "04000000000000000100000000000000020000000000000003000000000000000400000000000000"
)


def test_legacy_format_reads_and_writes(tmp_path):
    """torch's legacy format (pickles, then the storages' bytes): torch's file loads, with
    its layout (a transposed view) and weights_only as for the zip format; dlpy writes it
    with _use_new_zipfile_serialization=False and reads it back, views sharing storage."""
    for f in (io.BytesIO(LEGACY), tmp_path / "torch_legacy.pt"):
        if isinstance(f, Path):
            f.write_bytes(LEGACY)
        state = dlpy.load(f)
        np.testing.assert_array_equal(state["a"].numpy(), np.array([1.5, -2.0], np.float32))
        assert state["i"].tolist() == [[1, 3], [2, 4]] and state["i"].stride() == (1, 2)
        assert state["n"] == 3
    with pytest.raises(ValueError, match="mmap can only be used with files saved with"):
        dlpy.load(tmp_path / "torch_legacy.pt", mmap=True)
    x = dlpy.arange(12.0).reshape(3, 4)
    obj = {"t": x.t(), "row": x[1], "p": nn.Parameter(dlpy.ones(2)), "n": [1, "two"]}
    dlpy.save(obj, tmp_path / "dlpy_legacy.pt", _use_new_zipfile_serialization=False)
    assert not zipfile.is_zipfile(tmp_path / "dlpy_legacy.pt")
    back = dlpy.load(tmp_path / "dlpy_legacy.pt")
    assert back["t"].tolist() == x.t().tolist() and back["t"].stride() == (1, 4)
    assert back["row"].storage_offset() == 4 and back["n"] == [1, "two"]
    back["row"][0] = 100.0  # one storage, as saved
    assert back["t"][0, 1].item() == 100.0
    assert isinstance(back["p"], nn.Parameter)


def test_a_cut_legacy_file_is_a_clear_error(tmp_path):
    path = tmp_path / "old.pt"
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    path.write_bytes(magic + pickle.dumps(1001, protocol=2))
    with pytest.raises(ValueError, match=r"old\.pt: a legacy \(torch < 1\.6\) checkpoint that is "
                                         r"cut or corrupted"):
        dlpy.load(path)
    path.write_bytes(LEGACY[:-9])  # the last storage's bytes cut
    with pytest.raises(ValueError, match="storage .* is cut"):
        dlpy.load(path)


def test_unsigned_wide_dtypes_complex_objects_and_unsafe_globals(tmp_path):
    """uint16/32/64 tensors are written untyped with their dtype (as torch's float8); a
    complex tensor or number next to an object is written as torch's (no dlpy global: torch
    reads the file); get_unsafe_globals_in_checkpoint lists what weights_only refuses."""
    import fractions

    for dtype in (dlpy.uint16, dlpy.uint32, dlpy.uint64):
        x = dlpy.tensor([[0, 1, 2], [3, 4, 65535]]).to(dtype).t()
        dlpy.save({"x": x}, tmp_path / "u.pt")
        back = dlpy.load(tmp_path / "u.pt")["x"]
        assert back.dtype == dtype and back.tolist() == x.tolist() and back.stride() == (1, 3)
    obj = {"c": dlpy.tensor([1 + 1j, -2.5j]), "z": 2 - 1j, "f": fractions.Fraction(1, 3)}
    dlpy.save(obj, tmp_path / "obj.pt")
    with zipfile.ZipFile(tmp_path / "obj.pt") as archive:
        pkl = archive.read([n for n in archive.namelist() if n.endswith("data.pkl")][0])
    assert b"dlpy" not in pkl and b"numpy" not in pkl
    assert serialization.get_unsafe_globals_in_checkpoint(tmp_path / "obj.pt") == [
        "fractions.Fraction"]
    back = dlpy.load(tmp_path / "obj.pt", weights_only=False)
    assert back["c"].tolist() == [1 + 1j, -2.5j] and back["z"] == 2 - 1j
    dlpy.save({"c": dlpy.tensor([1j]), "z": 1j}, tmp_path / "plain.pt")
    assert serialization.get_unsafe_globals_in_checkpoint(tmp_path / "plain.pt") == []
    assert dlpy.load(tmp_path / "plain.pt")["z"] == 1j  # (weights_only allows complex)
    with pytest.raises(ValueError, match="zip checkpoints"):
        serialization.get_unsafe_globals_in_checkpoint(io.BytesIO(LEGACY))


def test_missing_file():
    with pytest.raises(FileNotFoundError, match=r"nothere\.pt: no such file"):
        dlpy.load("nothere.pt")


def test_an_optimiser_state_round_trips_through_save_and_load(tmp_path):
    """dlpy.save of an optimiser's PyTorch-layout state, dlpy.load, load_state_dict: the Tensors
    dlpy.load gives are read as arrays by the optimiser (np.asarray of a Tensor)."""
    from dlpy import optim

    model = nn.Linear(3, 2)
    first = optim.Adam(model.parameters(), lr=0.01)
    model(dlpy.randn(4, 3)).sum().backward()
    first.step()
    dlpy.save(first.state_dict(torch_layout=True), tmp_path / "adam.pt")
    second = optim.Adam(model.parameters(), lr=0.01)
    second.load_state_dict(dlpy.load(tmp_path / "adam.pt"))
    a, b = first.state_dict(), second.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]))


def test_an_object_met_twice_loads_as_one_and_dtypes_round_trip():
    """torch's pickle memo: a tensor, list or dict saved under two names loads as one object
    (in torch too); a dtype is written as torch's global (torch.load reads it)."""
    x, shared = dlpy.arange(3.0), {"k": [1]}
    buffer = io.BytesIO()
    dlpy.save({"a": x, "b": [x], "c": shared, "d": shared, "dt": dlpy.float16,
               "many": [[i] for i in range(300)]}, buffer)
    buffer.seek(0)
    back = dlpy.load(buffer)
    assert back["a"] is back["b"][0] and back["c"] is back["d"]
    assert back["dt"] == np.float16 and back["many"][299] == [299]
    buffer.seek(0, io.SEEK_END)  # torch reads from the file's position: here, nothing
    with pytest.raises(EOFError, match=r"nothing to read at position \d+ .*seek\(0\)"):
        dlpy.load(buffer)


class Safe:
    def __init__(self, value):
        self.value = value


def test_safe_globals_let_weights_only_build_a_class():
    buffer = io.BytesIO()
    dlpy.save(Safe(dlpy.ones(2)), buffer)
    with pytest.raises(UnpicklingError, match=r"test_torch_files\.Safe"):
        dlpy.load(io.BytesIO(buffer.getvalue()))
    with serialization.safe_globals([Safe]):
        assert Safe in serialization.get_safe_globals()
        back = dlpy.load(io.BytesIO(buffer.getvalue()))
    assert type(back) is Safe and back.value.tolist() == [1.0, 1.0]
    assert Safe not in serialization.get_safe_globals()
    serialization.add_safe_globals([Safe])
    try:
        assert type(dlpy.load(io.BytesIO(buffer.getvalue()))) is Safe
    finally:
        serialization.clear_safe_globals()
    with pytest.raises(UnpicklingError):
        dlpy.load(io.BytesIO(buffer.getvalue()))


def test_storage_offset_of_a_loaded_slice():
    buffer = io.BytesIO()
    dlpy.save(dlpy.arange(6.0)[2:], buffer)
    buffer.seek(0)
    assert dlpy.load(buffer).storage_offset() == 2


def test_torch_pickled_tensors_storage_and_module_load_under_compat(expected):
    # Python's pickle of torch objects names torch's functions (torch.storage._load_from_bytes
    # holds each storage as a legacy save): they load under dlpy.compat, strides and all
    from dlpy import compat

    with compat.as_torch():
        obj = pickle.loads((FIXTURES / "pickled.pkl").read_bytes())
    tensors = dict(tensors_in("pickled.pkl", obj["tensors"], dlpy.Tensor))
    keys = [k for k in expected if k.startswith("pickled.pkl/") and ":" not in k]
    assert sorted(tensors) == sorted(keys) and len(keys) == 14
    for key in keys:
        got = tensors[key].data
        got = got.astype(np.float32) if got.dtype.name == "bfloat16" else got
        np.testing.assert_array_equal(got, expected[key], err_msg=key)
        assert got.dtype == expected[key].dtype, key
        if got.size > 1:
            item = tensors[key].data.itemsize
            assert tuple(s // item for s in tensors[key].data.strides) == \
                tuple(expected[f"{key}:stride"]), key
        assert tensors[key].requires_grad == bool(expected[f"{key}:requires_grad"]), key
    assert isinstance(obj["tensors"]["weight"], nn.Parameter)
    storage = obj["storage"]
    assert isinstance(storage, dlpy.storage.TypedStorage) and storage.dtype == np.int32
    assert storage.tolist() == [0, 1, 2]
    out = obj["model"](dlpy.ones(2, 3))
    np.testing.assert_allclose(out.data, expected["pickled.pkl:model_out"], rtol=1e-6)


def test_a_saved_storage_loads_as_a_typed_storage_shared_with_its_tensors(expected):
    loaded = dlpy.load(FIXTURES / "storage.pt")
    typed, tail = loaded["typed"], loaded["tail"]
    assert type(typed) is dlpy.storage.TypedStorage and typed.dtype == np.float64
    assert typed.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    np.testing.assert_array_equal(tail.data, expected["storage.pt/tail"])
    typed[3] = 30.0  # the tensor views the storage, as torch's
    assert tail.data[0, 1] == 30.0
    raw = loaded["bytes"]  # torch's untyped storage loads as bytes (torch: TypedStorage uint8)
    assert raw.dtype == np.uint8 and raw.tolist() == [1, 0, 2, 0]


def test_storages_save_as_torch_saves_them_and_pickle(tmp_path):
    x = dlpy.arange(4.0)
    for legacy in (False, True):
        path = tmp_path / f"s{legacy}.pt"
        dlpy.save([x[1:].storage(), x], path, _use_new_zipfile_serialization=not legacy)
        storage, y = dlpy.load(path)
        assert storage.tolist() == [0.0, 1.0, 2.0, 3.0] and storage.dtype == np.float32
        storage[2] = 7.0  # one storage with the tensor over it
        assert y.tolist() == [0.0, 1.0, 7.0, 3.0]
    with pytest.raises(RuntimeError, match="view the same data as different types"):
        dlpy.save([x.untyped_storage(), x], tmp_path / "mixed.pt")
    again = pickle.loads(pickle.dumps(x.storage()))
    assert type(again) is dlpy.storage.TypedStorage and again.tolist() == [0.0, 1.0, 2.0, 3.0]
    copied = copy.deepcopy(x.storage())
    copied[0] = 5.0
    assert x.tolist() == [0.0, 1.0, 2.0, 3.0] and copied.tolist()[0] == 5.0


def test_torch_quantized_state_dicts_load_into_dlpys_quantized_layers(expected):
    # torch's layout: a Linear's (weight, bias) under _packed_params, a conv's QTensor weight
    from dlpy.ao import qtensor
    from dlpy.ao.nn import quantized as nnq

    saved = dlpy.load(FIXTURES / "quantized.pt")  # weights_only: qtensors, qint8, qschemes
    packed = saved["linear"]["_packed_params._packed_params"]
    assert isinstance(packed[0], qtensor.QTensor) and packed[0].dtype is qtensor.qint8
    assert saved["linear"]["_packed_params.dtype"] is qtensor.qint8
    assert saved["conv"]["weight"].qscheme() is qtensor.per_channel_affine
    linear, conv = nnq.Linear(3, 2, per_channel=True), nnq.Conv2d(2, 3, 2)
    assert str(linear.load_state_dict(saved["linear"])) == "<All keys matched successfully>"
    conv.load_state_dict(saved["conv"])
    assert linear.weight().qscheme() is qtensor.per_tensor_affine  # as the file's
    assert (linear.scale, linear.zero_point) == (pytest.approx(0.02), 70)
    np.testing.assert_array_equal(linear(saved["x"]).int_repr().data,
                                  expected["quantized.pt:linear_out"])
    np.testing.assert_array_equal(conv(saved["image"]).int_repr().data,
                                  expected["quantized.pt:conv_out"])
    with pytest.raises(ValueError, match="size mismatch"):
        nnq.Linear(4, 2).load_state_dict(dict(saved["linear"]))
    with pytest.raises(ValueError, match="bias"):
        nnq.Linear(3, 2, bias_=False).load_state_dict(dict(saved["linear"]))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_quantized_tensors_round_trip_through_save(tmp_path, legacy):
    from dlpy.ao import qtensor

    x = dlpy.tensor([[0.5, -1.0], [2.0, 0.75]])
    tensors = {
        "pt": qtensor.quantize_per_tensor(x, 0.25, 3, qtensor.quint8),
        "pc": qtensor.quantize_per_channel(x, dlpy.tensor([0.25, 0.5], dtype=dlpy.float64),
                                           dlpy.tensor([0, 1]), 1, qtensor.qint8),
        "i32": qtensor.quantize_per_tensor(x, 0.5, -2, qtensor.qint32),
        "dtype": qtensor.quint8, "scheme": qtensor.per_channel_affine}
    path = tmp_path / "q.pt"
    dlpy.save(tensors, path, _use_new_zipfile_serialization=not legacy)
    back = dlpy.load(path)
    for key in ("pt", "pc", "i32"):
        assert back[key].dtype is tensors[key].dtype and back[key].qscheme() is \
            tensors[key].qscheme()
        np.testing.assert_array_equal(back[key].int_repr().data, tensors[key].int_repr().data)
        np.testing.assert_array_equal(back[key].dequantize().data,
                                      tensors[key].dequantize().data)
    assert back["pc"].q_per_channel_axis() == 1
    assert back["dtype"] is qtensor.quint8 and back["scheme"] is qtensor.per_channel_affine
    packed = qtensor.quantize_per_tensor(x, 0.5, 0, qtensor.quint4x2)
    with pytest.raises(TypeError, match="quint4x2"):
        dlpy.save({"q": packed}, tmp_path / "q4.pt")
