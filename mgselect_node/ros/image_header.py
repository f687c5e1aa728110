"""Width and height of a compressed camera frame read from its PNG or JPEG header, before any decoding.

Why: a decoder allocates what the header declares. A small message can declare an 8000x8000 image (a
decompression bomb); reading the header first lets the node refuse it for a few bytes of work. Only PNG and
JPEG are accepted, identified by their signatures, whatever the message's `format` text says: cv2.imdecode
would otherwise also decode TIFF, BMP, WebP, ... from untrusted bytes.
"""

from __future__ import annotations

import numpy as np

from mgselect_node.errors import InputError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
_PNG_IHDR_END = 24                 # signature (8) + chunk length (4) + "IHDR" (4) + width (4) + height (4)
# JPEG start-of-frame markers (baseline, progressive, lossless, ...): C0-CF except DHT C4, JPG C8, DAC CC.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01}    # RSTn and TEM carry no length
_JPEG_SOS = 0xDA                   # image data follows; a frame header must have come before


def compressed_dimensions(data: np.ndarray) -> tuple[str, int, int]:
    """(format, width, height) from a PNG or JPEG header; InputError for anything else or a broken header."""
    head = bytes(data[:len(PNG_SIGNATURE)])
    if head == PNG_SIGNATURE:
        return ("png", *_png_size(data))
    if head[:2] == JPEG_SOI:
        return ("jpeg", *_jpeg_size(data))
    raise InputError("data is neither PNG nor JPEG (no PNG signature, no JPEG start marker)")


def _png_size(data: np.ndarray) -> tuple[int, int]:
    if data.size < _PNG_IHDR_END or bytes(data[12:16]) != b"IHDR":
        raise InputError("PNG header is truncated or has no IHDR chunk first")
    width = int.from_bytes(bytes(data[16:20]), "big")
    height = int.from_bytes(bytes(data[20:24]), "big")
    return width, height


def _jpeg_size(data: np.ndarray) -> tuple[int, int]:
    """Walk the marker segments up to the first start-of-frame (linear in the header, bounded by the data)."""
    raw = memoryview(data)
    pos = len(JPEG_SOI)
    size = data.size
    while pos + 4 <= size:
        if raw[pos] != 0xFF:
            raise InputError(f"JPEG header is corrupt: expected a marker at byte {pos}")
        marker = raw[pos + 1]
        if marker == 0xFF:                       # fill byte
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        length = int.from_bytes(bytes(raw[pos + 2:pos + 4]), "big")
        if marker in _JPEG_SOF:
            if pos + 9 > size:
                break
            height = int.from_bytes(bytes(raw[pos + 5:pos + 7]), "big")
            width = int.from_bytes(bytes(raw[pos + 7:pos + 9]), "big")
            return width, height
        if marker == _JPEG_SOS or length < 2:
            break
        pos += 2 + length
    raise InputError("JPEG header is truncated or corrupt: no frame header (SOF) before the image data")
