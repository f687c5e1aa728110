"""Message conversion between rosbags objects, rclpy messages and CDR bytes.

Why this exists: rosbags (pure Python) reads and writes bags, rclpy publishes and subscribes. Both speak CDR,
so CDR bytes are the bridge. One exception (DESIGN.md section 5): Fast CDR, which rclpy uses, writes alignment
padding for an empty float64[] sequence that rosbags' deserializer does not expect, so rosbags rejects
"CDR message size mismatch" for e.g. a JointState with an empty effort array or a JointTrajectoryPoint
without accelerations. Such bytes are decoded with rclpy's own deserializer and then copied field by field
into the rosbags dataclass, so the rest of the tools always see one kind of object.
"""

from __future__ import annotations

import array
import importlib
import struct
from typing import Any

import numpy as np
from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.store import Typestore

from mgselect_node.errors import MGSelectError

# The rclpy wheels in this environment are ROS 2 Kilted; its message definitions match the rclpy classes.
TYPESTORE_DISTRO = Stores.ROS2_KILTED

# ROS IDL primitive names -> numpy dtypes, for sequences/arrays of primitives (what rosbags produces).
_NUMPY_DTYPES: dict[str, str] = {
    "bool": "bool", "byte": "uint8", "char": "uint8", "int8": "int8", "uint8": "uint8", "int16": "int16",
    "uint16": "uint16", "int32": "int32", "uint32": "uint32", "int64": "int64", "uint64": "uint64",
    "float32": "float32", "float64": "float64",
}


_TYPE_NAME_PARTS = 3  # package/msg/Name


CDR_HEADER_BYTES = 4               # encapsulation: 2 bytes representation id, 2 bytes options
_CDR_LITTLE_ENDIAN_IDS = (0x01, 0x03)   # CDR_LE, PL_CDR_LE
_STAMP_STRUCT = {True: struct.Struct("<iI"), False: struct.Struct(">iI")}


class ConversionError(MGSelectError):
    """A message could not be converted between CDR, rosbags and rclpy; the message names type and cause."""


def default_typestore() -> Typestore:
    """A fresh typestore with the standard Kilted types (callers may register bag-specific ones into it)."""
    return get_typestore(TYPESTORE_DISTRO)


def rclpy_class(msgtype: str) -> type:
    """'sensor_msgs/msg/JointState' -> sensor_msgs.msg.JointState (rosidl_runtime_py may not be installed)."""
    parts = msgtype.split("/")
    if len(parts) != _TYPE_NAME_PARTS:
        raise ConversionError(f"message type {msgtype!r}: expected 'package/msg/Name'")
    package, kind, name = parts
    try:
        module = importlib.import_module(f"{package}.{kind}")
        return getattr(module, name)
    except (ImportError, AttributeError) as exc:
        raise ConversionError(
            f"no rclpy message class for {msgtype!r} ({exc}); install the "
            f"ros-kilted-{package.replace('_', '-')} wheel to publish or record it") from None


def deserialize(raw: bytes | memoryview, msgtype: str, typestore: Typestore) -> Any:
    """CDR bytes -> rosbags object; rclpy's deserializer takes over for Fast CDR's empty-float64[] quirk."""
    try:
        return typestore.deserialize_cdr(raw, msgtype)
    except Exception as first:  # rosbags raises SerdeError, but also IndexError/struct.error on odd bytes
        try:
            from rclpy.serialization import deserialize_message

            ros_msg = deserialize_message(bytes(raw), rclpy_class(msgtype))
        except Exception as second:
            raise ConversionError(
                f"cannot decode a {msgtype} message: rosbags said {first!r}; rclpy said {second!r}") from None
        return rclpy_to_rosbags(ros_msg, msgtype, typestore)


def serialize(obj: Any, msgtype: str, typestore: Typestore) -> bytes:
    """rosbags object, rclpy message or bytes -> CDR bytes."""
    if isinstance(obj, bytes | bytearray | memoryview):
        return bytes(obj)
    if hasattr(obj, "get_fields_and_field_types"):  # an rclpy message
        from rclpy.serialization import serialize_message

        return bytes(serialize_message(obj))
    try:
        return bytes(typestore.serialize_cdr(obj, msgtype))
    except Exception as exc:
        raise ConversionError(f"cannot serialize {type(obj).__name__} as {msgtype}: {exc}") from None


def to_rclpy(obj: Any, msgtype: str, typestore: Typestore) -> Any:
    """rosbags object or CDR bytes -> rclpy message, through CDR (rclpy reads rosbags' CDR correctly)."""
    if hasattr(obj, "get_fields_and_field_types"):
        return obj
    from rclpy.serialization import deserialize_message

    return deserialize_message(serialize(obj, msgtype, typestore), rclpy_class(msgtype))


def rclpy_to_rosbags(ros_msg: Any, msgtype: str, typestore: Typestore) -> Any:
    """Copy an rclpy message into the rosbags dataclass of `msgtype`, field by field (no CDR involved)."""
    if msgtype not in typestore.fielddefs:
        raise ConversionError(f"message type {msgtype!r} is not known to the rosbags typestore")
    _, fields = typestore.fielddefs[msgtype]
    values = {name: _convert_value(getattr(ros_msg, name), desc, typestore) for name, desc in fields}
    return typestore.types[msgtype](**values)


def _convert_value(value: Any, desc: tuple, typestore: Typestore) -> Any:
    nodetype, detail = desc
    if nodetype == Nodetype.BASE:
        return value
    if nodetype == Nodetype.NAME:
        return rclpy_to_rosbags(value, detail, typestore)
    # ARRAY or SEQUENCE: detail = (element descriptor, bound)
    element = detail[0]
    if element[0] == Nodetype.BASE and element[1][0] in _NUMPY_DTYPES:
        dtype = _NUMPY_DTYPES[element[1][0]]
        if isinstance(value, bytes | bytearray):
            return np.frombuffer(bytes(value), dtype=dtype).copy()
        if isinstance(value, array.array | np.ndarray):
            return np.asarray(value, dtype=dtype).copy()
        return np.array([b[0] if isinstance(b, bytes) else b for b in value], dtype=dtype)
    return [_convert_value(v, element, typestore) for v in value]


def header_stamp_ns(raw: bytes | memoryview) -> int | None:
    """header.stamp in nanoseconds of a message whose first field is a std_msgs/Header (Image, JointState,
    ...), read straight from the CDR bytes without decoding the rest (camera frames are large)."""
    if len(raw) < CDR_HEADER_BYTES + _STAMP_STRUCT[True].size:
        return None
    little = raw[1] in _CDR_LITTLE_ENDIAN_IDS
    sec, nanosec = _STAMP_STRUCT[little].unpack_from(raw, CDR_HEADER_BYTES)
    return sec * 1_000_000_000 + nanosec
