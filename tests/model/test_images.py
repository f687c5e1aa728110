"""Image preprocessing: any size in, model size out, aspect ratio kept, values in [-1, 1]."""

import numpy as np
import pytest

from mgselect_node.errors import InputError
from mgselect_node.model.images import preprocess_images, resize_with_pad


def test_resize_keeps_aspect_and_pads():
    image = np.full((30, 60, 3), 255, dtype=np.uint8)
    out = resize_with_pad(image, 64)
    assert out.shape == (64, 64, 3)
    assert out[0].max() == 0 and out[-1].max() == 0          # bars above and below
    assert out[32].min() == 255                                # content row spans the full width


def test_preprocess_scales_to_unit_range_per_camera():
    frames = [np.zeros((10, 10, 3), np.uint8), np.full((20, 10, 3), 255, np.uint8)]
    out = preprocess_images(frames, ["a", "b"], 16)
    assert out.shape == (2, 3, 16, 16) and out.dtype == np.float32
    assert out[0].max() == -1.0 and out[1].max() == 1.0


def test_wrong_camera_count_is_explained():
    with pytest.raises(InputError, match="expected 2 image"):
        preprocess_images([np.zeros((4, 4, 3), np.uint8)], ["a", "b"], 8)
