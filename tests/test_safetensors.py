"""dlpy.utils.safetensors: .safetensors files with numpy (fixtures made by the safetensors
package in tests/fixtures/make_torch_files_fixtures.py, which also checks dlpy's bytes equal
the package's)."""

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from dlpy import Tensor
from dlpy.utils.safetensors import load, load_file, safe_open, save, save_file

FIXTURES = Path(__file__).parent / "fixtures" / "torch_files"


@pytest.fixture(scope="module")
def expected():
    with np.load(FIXTURES / "expected.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("name", ["tensors.safetensors", "low_precision.safetensors"])
def test_load_file_matches_the_package(name, expected):
    tensors = load_file(FIXTURES / name)
    keys = sorted(k.split("/", 1)[1] for k in expected if k.startswith(f"{name}/"))
    assert sorted(tensors) == keys
    for key, tensor in tensors.items():
        want = expected[f"{name}/{key}"]
        got = tensor.data
        if got.dtype.name in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):  # ml_dtypes' kept
            got = got.astype(np.float32)  # (the fixture holds their float32 values)
        assert isinstance(tensor, Tensor) and got.dtype == want.dtype, key
        np.testing.assert_array_equal(got, want, err_msg=key)


def test_every_float8_bit_pattern(expected):
    codes = np.arange(256, dtype=np.uint8)
    for dtype in ("e4m3", "e5m2"):
        name = {"e4m3": "F8_E4M3", "e5m2": "F8_E5M2"}[dtype]
        data = hand_made({"x": {"dtype": name, "shape": [256], "data_offsets": [0, 256]}},
                         codes.tobytes())
        np.testing.assert_array_equal(load(data)["x"].data, expected[f"float8/{dtype}"])


def test_safe_open_reads_lazily(expected):
    with safe_open(FIXTURES / "tensors.safetensors", framework="np") as f:
        assert f.metadata() == {"format": "np"}
        assert sorted(f.keys()) == ["bias", "flags", "half", "ids", "scalar", "small", "weight"]
        np.testing.assert_array_equal(f.get_tensor("weight").data,
                                      expected["tensors.safetensors/weight"])
        with pytest.raises(KeyError, match=r"tensors\.safetensors: no tensor named 'nope'"):
            f.get_tensor("nope")


def test_save_file_round_trips_with_metadata(tmp_path):
    tensors = {"w": Tensor(np.arange(6.0).reshape(2, 3).T), "i": np.arange(3, dtype=np.int8),
               "s": np.array(1.5, np.float32), "e": np.zeros((0, 2)), "ü": np.array([True])}
    save_file(tensors, tmp_path / "x.safetensors", metadata={"a": "1", "b": "two"})
    back = load_file(tmp_path / "x.safetensors")
    for key, value in tensors.items():
        original = value.data if isinstance(value, Tensor) else value
        assert back[key].dtype == original.dtype and back[key].shape == original.shape, key
        np.testing.assert_array_equal(back[key].data, original)
    with safe_open(tmp_path / "x.safetensors") as f:
        assert f.metadata() == {"a": "1", "b": "two"}
    back["w"].data[0, 0] = 5.0  # writable arrays


def test_save_rejects_bad_input():
    with pytest.raises(TypeError, match=r"save_file: tensor 'x' has dtype object"):
        save({"x": np.array([None])})
    with pytest.raises(ValueError, match=r"save_file: tensor names are strings other than "
                                         r"'__metadata__', got 3"):
        save({3: np.ones(1)})
    with pytest.raises(TypeError, match=r"save_file: metadata must map strings to strings"):
        save({"x": np.ones(1)}, metadata={"a": 1})
    with pytest.raises(TypeError, match=r"save_file: tensors must be a dict"):
        save([np.ones(1)])


# --------------------------------------------------------------------------- hostile files
def hand_made(header: dict, data: bytes, raw_header: bytes | None = None) -> bytes:
    encoded = json.dumps(header).encode() if raw_header is None else raw_header
    return struct.pack("<Q", len(encoded)) + encoded + data


def write(tmp_path, content: bytes) -> Path:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    return path


def test_hand_made_file_loads(tmp_path):
    content = hand_made({"__metadata__": {"k": "v"},
                         "a": {"dtype": "I32", "shape": [2], "data_offsets": [0, 8]},
                         "b": {"dtype": "F16", "shape": [], "data_offsets": [8, 10]}},
                        np.array([7, -1], "<i4").tobytes() + np.array(0.5, "<f2").tobytes())
    tensors = load_file(write(tmp_path, content))
    np.testing.assert_array_equal(tensors["a"].data, [7, -1])
    assert tensors["b"].data == np.float16(0.5) and tensors["b"].shape == ()


@pytest.mark.parametrize("content, message", [
    (struct.pack("<Q", 10**6) + b"{}", r"the header claims 1000000 bytes, the file has 2 after"),
    (b"\x01\x02", r"not a safetensors file, 2 bytes is too short"),
    (hand_made({}, b"", raw_header=b"{not json"), r"the header is not JSON"),
    (hand_made({}, b"", raw_header=b"[1, 2]"), r"the header is a JSON list, not an object"),
    (hand_made({"a": {"dtype": "F7", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),
     r"tensor 'a': unknown dtype 'F7'"),
    (hand_made({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 4),
     r"tensor 'a': data_offsets \[0, 8\] are not a range inside the 4 data bytes"),
    (hand_made({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4),
     r"tensor 'a': F32 of shape \(2,\) needs 8 bytes, data_offsets \[0, 4\] hold 4"),
    (hand_made({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8),
     r"tensor 'b': data_offsets start at 4, the previous tensor ends at 8 \(an overlap\)"),
    (hand_made({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8),
     r"tensor 'a': data_offsets start at 4, the previous tensor ends at 0 \(a gap\)"),
    (hand_made({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 6),
     r"the tensors end at byte 4 of the data, the file holds 6 data bytes"),
    (hand_made({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4),
     r"tensor 'a': shape must be a list of sizes, got \[-1\]"),
    (hand_made({"__metadata__": {"a": 1}}, b""), r"__metadata__ must map strings to strings"),
])
def test_hostile_file_is_a_clear_error_naming_it(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(ValueError, match=r"bad\.safetensors: " + message):
        load_file(path)
    with pytest.raises(ValueError, match=r"bad\.safetensors: " + message):
        safe_open(path)
    with pytest.raises(ValueError, match=r"<bytes>: " + message):
        load(content)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match=r"nothere\.safetensors: no such file"):
        load_file("nothere.safetensors")
