"""Camera frames -> model pixels: aspect-preserving resize + pad to a square, scaled to [-1, 1]."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch.nn import functional

from mgselect_node.errors import InputError

# SigLIP in PaliGemma takes pixels in [-1, 1].
_PIXEL_SCALE = 2.0 / 255.0
_PIXEL_OFFSET = -1.0
_PAD_VALUE = 0  # black bars, as openpi's resize_with_pad


def check_image(image: np.ndarray, name: str) -> None:
    """Reject anything but an HxWx3 uint8 frame with a message that says what arrived."""
    if not isinstance(image, np.ndarray):
        raise InputError(f"{name}: expected a numpy array HxWx3 uint8, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InputError(f"{name}: expected dtype uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"{name}: expected shape HxWx3 (RGB), got {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f"{name}: empty image {image.shape}")


def resize_with_pad(image: np.ndarray, size: int) -> np.ndarray:
    """Fit the longer side to `size`, keep the aspect ratio, pad the rest (centred)."""
    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return image
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (nw, nh), interpolation=interp)
    out = np.full((size, size, 3), _PAD_VALUE, dtype=np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top:top + nh, left:left + nw] = resized
    return out


def preprocess_images(images: Sequence[np.ndarray], camera_names: Sequence[str], size: int) -> np.ndarray:
    """One frame per camera -> float32 (num_cameras, 3, size, size) in [-1, 1]."""
    if isinstance(images, np.ndarray):
        images = [images]
    if len(images) != len(camera_names):
        raise InputError(
            f"expected {len(camera_names)} image(s) for cameras {list(camera_names)}, got {len(images)}")
    out = np.empty((len(images), 3, size, size), dtype=np.float32)
    for i, (image, name) in enumerate(zip(images, camera_names, strict=True)):
        check_image(image, f"camera {name!r}")
        fitted = resize_with_pad(image, size)
        out[i] = fitted.transpose(2, 0, 1).astype(np.float32) * _PIXEL_SCALE + _PIXEL_OFFSET
    return out


def resize_with_pad_bilinear(frame: np.ndarray, size: int) -> torch.Tensor:
    """uint8 HxWx3 -> float32 (3, size, size) in [0, 1], as openpi's / LeRobot's `resize_with_pad_torch`:
    floats /255, bilinear (align_corners=False, no antialias) to int(side / ratio), clamp, centred zero pad.
    Why not cv2: a pi0-FAST checkpoint was trained on exactly this resampling."""
    image = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float() / 255.0
    height, width = frame.shape[:2]
    if (height, width) != (size, size):
        ratio = max(width / size, height / size)
        new_h, new_w = int(height / ratio), int(width / ratio)
        image = functional.interpolate(image, size=(new_h, new_w), mode="bilinear", align_corners=False)
        image = image.clamp(0.0, 1.0)
        top, left = divmod(size - new_h, 2)[0], divmod(size - new_w, 2)[0]
        image = functional.pad(image, (left, size - new_w - left, top, size - new_h - top), value=0.0)
    return image[0]


def preprocess_images_bilinear(images: Sequence[np.ndarray], camera_names: Sequence[str], size: int
                               ) -> np.ndarray:
    """One frame per camera -> float32 (num_cameras, 3, size, size) in [-1, 1] (x * 2 - 1), pi0-FAST style."""
    if isinstance(images, np.ndarray):
        images = [images]
    if len(images) != len(camera_names):
        raise InputError(
            f"expected {len(camera_names)} image(s) for cameras {list(camera_names)}, got {len(images)}")
    for image, name in zip(images, camera_names, strict=True):
        check_image(image, f"camera {name!r}")
    return torch.stack([resize_with_pad_bilinear(image, size) for image in images]).mul(2.0).sub(1.0).numpy()
