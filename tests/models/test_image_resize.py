"""PIL-exact resizing of uint8 images (dlpy.models.image_processing.pil_resize) and the ViT /
CLIP image processors against Pillow 13 and transformers 5.25's PIL backend on several aspect
ratios (tests/fixtures/make_image_resize_fixtures.py): Pillow resizes the height first when an
image loses more than twice as many rows as columns, and the 8-bit rounding between the two
passes makes the order show."""

from pathlib import Path

import numpy as np
import pytest

from dlpy.models.image_processing import CLIPImageProcessor, ViTImageProcessor, pil_resize

DATA = np.load(Path(__file__).parent.parent / "fixtures" / "image_resize.npz")
KEYS = [key for key in DATA.files if key.startswith("pil/")]


def test_fixture_has_both_orders():
    """Some cases need the height first, others the width first (else the test could not fail)."""
    orders = set()
    for key in KEYS:
        _, index, size, _ = key.split("/")
        rows, cols = DATA[f"image/{index}"].shape[:2]
        height, width = map(int, size.split("x"))
        orders.add(0 < rows - height and rows - height > 2 * (cols - width))
    assert orders == {True, False}


@pytest.mark.parametrize("index", range(5))
def test_resize_equals_pil(index):
    image = DATA[f"image/{index}"].transpose(2, 0, 1)
    for key in (k for k in KEYS if k.split("/")[1] == str(index)):
        size, resample = key.split("/")[2:]
        mode = {"2": "bilinear", "3": "bicubic"}[resample]
        out = pil_resize(image, tuple(map(int, size.split("x"))), mode)
        np.testing.assert_array_equal(out.transpose(1, 2, 0), DATA[key], err_msg=key)


def test_processors_equal_transformers():
    vit = ViTImageProcessor(size={"height": 10, "width": 12})
    clip = CLIPImageProcessor(size={"shortest_edge": 9}, crop_size={"height": 9, "width": 9})
    for index in range(5):
        image = DATA[f"image/{index}"]
        np.testing.assert_allclose(vit(image)["pixel_values"], DATA[f"vit/{index}"],
                                   atol=1e-6, rtol=0)
        np.testing.assert_allclose(clip(image)["pixel_values"], DATA[f"clip/{index}"],
                                   atol=1e-6, rtol=0)
