"""dlpy.vision.utils against torchvision 0.28 (tests/fixtures/vision_utils.npz, written by
make_vision_utils_fixtures.py, whose torch-free CASES table drives these tests)."""

import io
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import dlpy
from dlpy.vision import utils

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
from make_vision_utils_fixtures import CASES, inputs  # noqa: E402

EXPECTED = np.load(FIXTURES / "vision_utils.npz")


def read_png(data: bytes) -> np.ndarray:
    """Pixels of an 8-bit PNG whose scanlines are all unfiltered (what write_png makes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind = data[position + 4:position + 8]
        body = data[position + 8:position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        position += 12 + length
    width, height, depth, color, *_ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    channels = {0: 1, 4: 2, 2: 3, 6: 4}[color]
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8)
    rows = raw.reshape(height, 1 + width * channels)
    assert depth == 8 and (rows[:, 0] == 0).all()
    pixels = rows[:, 1:].reshape(height, width, channels)
    return pixels[..., 0] if channels == 1 else pixels


def case_input(name: str):
    arrays = inputs()
    if name.endswith("_list"):
        return [dlpy.Tensor(a) for a in arrays[name[:-5]]]
    return dlpy.Tensor(arrays[name])


@pytest.mark.parametrize("case", sorted(CASES))
def test_make_grid_matches_torchvision(case):
    name, kwargs = CASES[case]
    got = utils.make_grid(case_input(name), **kwargs)
    expected = EXPECTED[f"grid:{case}"]
    assert isinstance(got, dlpy.Tensor) and got.shape == expected.shape
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("case", sorted(CASES))
def test_save_image_png_pixels_match_torchvision(case, tmp_path):
    name, kwargs = CASES[case]
    path = tmp_path / "grid.png"
    utils.save_image(case_input(name), path, **kwargs)
    np.testing.assert_array_equal(read_png(path.read_bytes()), EXPECTED[f"png:{case}"])
    buffer = io.BytesIO()
    utils.save_image(case_input(name), buffer, format="png", **kwargs)
    assert buffer.getvalue() == path.read_bytes()


def test_make_grid_leaves_its_input_alone():
    images = dlpy.Tensor(inputs()["batch"])
    before = images.numpy().copy()
    utils.make_grid(images, normalize=True)
    np.testing.assert_array_equal(images.numpy(), before)


def test_bad_arguments_say_what_was_expected():
    with pytest.raises(TypeError, match="make_grid: expected a Tensor or a list of Tensors, "
                                        "got ndarray"):
        utils.make_grid(np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"make_grid: the images of a list must have one "
                                         r"shape, got \[\(3, 4, 4\), \(3, 5, 5\)\]"):
        utils.make_grid([dlpy.zeros(3, 4, 4), dlpy.zeros(3, 5, 5)])
    with pytest.raises(TypeError, match="value_range has to be a tuple"):
        utils.make_grid(dlpy.zeros(2, 3, 4, 4), normalize=True, value_range=[0, 1])
    with pytest.raises(ValueError, match=r"expected \(B, C, H, W\), \(C, H, W\) or \(H, W\) "
                                         r"images, got shape \(1, 2, 3, 4, 4\)"):
        utils.make_grid(dlpy.zeros(1, 2, 3, 4, 4))
    with pytest.raises(ValueError, match="give `format` when fp is a file object"):
        utils.save_image(dlpy.zeros(2, 3, 4, 4), io.BytesIO())
