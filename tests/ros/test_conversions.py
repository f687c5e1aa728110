"""Camera message conversion: every supported encoding round-trips, every malformed message says why."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from mgselect_node.errors import InputError
from mgselect_node.ros.conversions import (
    compressed_to_rgb,
    fill_compressed,
    fill_image,
    header_seconds,
    image_to_rgb,
    msg_to_rgb,
    stamp_to_seconds,
)


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
@pytest.mark.parametrize("padding", [0, 5])
def test_color_encodings_round_trip_with_row_padding(rgb, encoding, padding):
    msg = fill_image(Image(), rgb, encoding, row_padding=padding)
    assert msg.step == 9 * 3 + padding
    out = image_to_rgb(msg)
    assert out.shape == (7, 9, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, rgb)


def test_mono8_becomes_three_equal_channels(rgb):
    msg = fill_image(Image(), rgb, "mono8", row_padding=3)
    out = image_to_rgb(msg)
    assert out.shape == (7, 9, 3)
    np.testing.assert_array_equal(out[..., 0], out[..., 1])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_bgr8_swaps_channels():
    bgr_pixel = SimpleNamespace(encoding="bgr8", height=1, width=1, step=3, data=bytes([10, 20, 30]))
    np.testing.assert_array_equal(image_to_rgb(bgr_pixel)[0, 0], [30, 20, 10])


def test_duck_typed_message_with_numpy_data(rgb):
    """rosbags messages carry numpy arrays and plain attribute objects."""
    msg = SimpleNamespace(encoding="rgb8", height=7, width=9, step=27, data=rgb.reshape(-1).copy())
    np.testing.assert_array_equal(msg_to_rgb(msg), rgb)


def test_unsupported_encoding_is_named(rgb):
    msg = fill_image(Image(), rgb)
    msg.encoding = "16UC1"
    with pytest.raises(InputError, match="unsupported image encoding '16UC1'"):
        image_to_rgb(msg)


def test_wrong_data_size_says_expected_size(rgb):
    msg = fill_image(Image(), rgb)
    msg.height = 8
    with pytest.raises(InputError, match=r"expected height\*step = 8\*27 = 216"):
        image_to_rgb(msg)


def test_step_smaller_than_row_is_rejected(rgb):
    msg = fill_image(Image(), rgb)
    msg.step = 10
    with pytest.raises(InputError, match="step 10 is smaller"):
        image_to_rgb(msg)


def test_zero_size_is_rejected():
    with pytest.raises(InputError, match="positive width and height"):
        image_to_rgb(SimpleNamespace(encoding="rgb8", height=0, width=4, step=12, data=b""))


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_compressed_round_trip(rgb, fmt):
    msg = fill_compressed(CompressedImage(), rgb, fmt)
    out = compressed_to_rgb(msg)
    assert out.shape == rgb.shape
    if fmt == "png":   # lossless
        np.testing.assert_array_equal(out, rgb)
    assert msg_to_rgb(msg).shape == rgb.shape


def test_corrupt_compressed_data_is_rejected():
    msg = CompressedImage(format="jpeg", data=b"\x00\x01 definitely not a jpeg" * 10)
    with pytest.raises(InputError, match="could not be decoded"):
        compressed_to_rgb(msg)


def test_empty_or_unsupported_compressed():
    with pytest.raises(InputError, match="no data"):
        compressed_to_rgb(CompressedImage(format="png"))
    with pytest.raises(InputError, match="unsupported CompressedImage format"):
        compressed_to_rgb(CompressedImage(format="compressedDepth", data=b"123"))


def test_image_transport_format_string_is_accepted(rgb):
    msg = fill_compressed(CompressedImage(), rgb, "png")
    msg.format = "rgb8; png compressed bgr8"
    np.testing.assert_array_equal(compressed_to_rgb(msg), rgb)


def test_stamps():
    msg = fill_image(Image(), np.zeros((2, 2, 3), np.uint8), stamp_s=12.25)
    assert stamp_to_seconds(msg.header.stamp) == pytest.approx(12.25)
    assert header_seconds(msg, fallback_s=99.0) == pytest.approx(12.25)
    assert header_seconds(Image(), fallback_s=99.0) == 99.0   # zero stamp = unset -> receipt time


# ------------------------------------------------------------------------------ size limits (issue 13)
def test_compressed_bomb_is_refused_before_decoding(monkeypatch):
    from .test_image_header import jpeg_declaring, png_header

    def no_decode(*_, **__):
        raise AssertionError("must be refused before decoding")
    monkeypatch.setattr(cv2, "imdecode", no_decode)
    for data in (png_header(8000, 8000) + bytes(100), jpeg_declaring(8000, 8000)):
        with pytest.raises(InputError, match="8000x8000 = 64000000 pixels > max_image_pixels 8294400"):
            msg_to_rgb(SimpleNamespace(format="png", data=data), max_pixels=8_294_400)


def test_png_whose_header_lies_about_its_size_is_an_input_error():
    from .test_image_header import encoded

    data = bytearray(encoded(".png").tobytes())
    data[16:24] = (100).to_bytes(4, "big") * 2             # IHDR now says 100x100 (its CRC no longer matches)
    with pytest.raises(InputError, match="could not be decoded"):
        msg_to_rgb(SimpleNamespace(format="png", data=bytes(data)), max_pixels=10_000)


def test_raw_image_over_the_pixel_limit_is_refused():
    msg = SimpleNamespace(encoding="rgb8", width=5000, height=5000, step=15000, data=b"")
    with pytest.raises(InputError, match="max_image_pixels"):
        msg_to_rgb(msg, max_pixels=1000)


def test_huge_encoding_text_is_not_echoed_whole():
    msg = SimpleNamespace(encoding="y" * 1_000_000, width=4, height=4, step=12, data=bytes(48))
    with pytest.raises(InputError) as info:
        msg_to_rgb(msg)
    assert len(str(info.value)) < 300
