"""Bag IO with rosbags: round trips in both storage formats, the Fast CDR empty-float64[] quirk, and the
clear errors for bags that are missing, truncated, corrupt or lack what the caller needs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mgselect_node.bag.bag_io import BagError, BagReader, BagWriter, open_bag
from mgselect_node.bag.cdr import (
    ConversionError,
    default_typestore,
    deserialize,
    header_stamp_ns,
    rclpy_class,
    rclpy_to_rosbags,
    to_rclpy,
)
from mgselect_node.bag.synthetic import (
    CameraSpec,
    SyntheticBagSpec,
    joint_positions,
    render_frame,
    write_synthetic_bag,
)
from mgselect_node.contracts import INSTRUCTION, private_topic
from mgselect_node.ros.conversions import msg_to_rgb

STORAGES = ["sqlite3", "mcap"]
INSTRUCTION_TOPIC = private_topic(INSTRUCTION)   # where the synthetic bags put the instruction
JPEG_MEAN_ERROR = 12.0   # mean absolute pixel error a jpeg round trip of the synthetic frame stays under


def robot_spec(**overrides: object) -> SyntheticBagSpec:
    """What a real robot bag looks like: three cameras of all kinds, extra joints in another order."""
    spec = SyntheticBagSpec(
        cameras=[CameraSpec("/cam0/image_raw"), CameraSpec("/cam1/compressed", compressed=True, encoding="jpeg"),
                 CameraSpec("/cam2/image_raw", encoding="bgr8"), CameraSpec("/cam3/image_raw", encoding="mono8")],
        extra_joints=["gripper_left", "gripper_right"], shuffle_joints=True, duration=1.0)
    for key, value in overrides.items():
        setattr(spec, key, value)
    return spec


@pytest.mark.parametrize("storage", STORAGES)
def test_round_trip_keeps_topics_types_and_values(tmp_path: Path, storage: str) -> None:
    spec = robot_spec()
    path = write_synthetic_bag(tmp_path / "bag", spec, storage=storage)
    with open_bag(path) as bag:
        assert bag.storage == storage
        topics = bag.topics
        assert topics["/cam1/compressed"].msgtype == "sensor_msgs/msg/CompressedImage"
        assert topics["/cam0/image_raw"].msgtype == "sensor_msgs/msg/Image"
        assert topics["/joint_states"].count == int(spec.duration * spec.joint_rate) + 1
        assert topics[INSTRUCTION_TOPIC].count == 1
        assert bag.duration_s == pytest.approx(spec.duration)
        times, seen = [], {}
        for message, msg in bag.read():
            times.append(message.time_ns)
            seen.setdefault(message.topic, []).append(msg)
    assert times == sorted(times), "messages must come back in recorded order"

    js = seen["/joint_states"][10]
    t = 10 / spec.joint_rate
    expected = dict(zip(spec.joint_names, joint_positions(spec, t), strict=True))
    got = dict(zip(js.name, js.position, strict=True))
    assert set(got) == set(spec.joint_names) | set(spec.extra_joints)
    assert list(js.name) != spec.joint_names + spec.extra_joints          # shuffled, as on real robots
    for name, value in expected.items():
        assert got[name] == pytest.approx(value)
    assert js.effort.size == 0

    frame3 = render_frame(spec.cameras[0], 3, 3 / spec.cameras[0].rate, spec.seed, 0)
    assert np.array_equal(msg_to_rgb(seen["/cam0/image_raw"][3]), frame3)
    for topic in ("/cam1/compressed", "/cam2/image_raw", "/cam3/image_raw"):
        rgb = msg_to_rgb(seen[topic][0])
        assert rgb.shape == (48, 64, 3) and rgb.dtype == np.uint8
    assert seen[INSTRUCTION_TOPIC][0].data == spec.instruction


@pytest.mark.parametrize("storage", STORAGES)
def test_jpeg_and_bgr_frames_decode_to_the_rendered_image(tmp_path: Path, storage: str) -> None:
    spec = SyntheticBagSpec(cameras=[CameraSpec("/a/compressed", compressed=True, encoding="jpeg"),
                                     CameraSpec("/b/image_raw", encoding="bgr8")], duration=0.0,
                            instruction=None)
    path = write_synthetic_bag(tmp_path / "bag", spec, storage=storage)
    expected = {c.topic: render_frame(c, 0, 0.0, spec.seed, i) for i, c in enumerate(spec.cameras)}
    with open_bag(path) as bag:
        got = {m.topic: msg_to_rgb(msg) for m, msg in bag.read(["/a/compressed", "/b/image_raw"])}
    assert np.array_equal(got["/b/image_raw"], expected["/b/image_raw"])
    error = np.abs(got["/a/compressed"].astype(int) - expected["/a/compressed"].astype(int)).mean()
    assert error < JPEG_MEAN_ERROR


def _fast_cdr_joint_state() -> object:
    from sensor_msgs.msg import JointState

    msg = JointState(name=["a", "b"], position=[0.5, -0.25], velocity=[], effort=[])
    msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id = 12, 345, "base"
    return msg


def _trajectory_without_accelerations() -> object:
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    point = JointTrajectoryPoint(positions=[0.1, 0.2], velocities=[0.0, 1.0])
    point.time_from_start.nanosec = 100_000_000
    return JointTrajectory(joint_names=["a", "b"], points=[point, point])


def test_rosbags_alone_rejects_fast_cdr_empty_float64_arrays() -> None:
    """The quirk this module works around (DESIGN.md section 5): if rosbags ever accepts these bytes,
    the fallback is no longer needed, and this test says so."""
    from rclpy.serialization import serialize_message

    raw = bytes(serialize_message(_fast_cdr_joint_state()))
    with pytest.raises(Exception, match="size mismatch"):
        default_typestore().deserialize_cdr(raw, "sensor_msgs/msg/JointState")


@pytest.mark.parametrize("storage", STORAGES)
def test_rclpy_messages_with_empty_float64_arrays_read_back(tmp_path: Path, storage: str) -> None:
    with BagWriter(tmp_path / "bag", storage=storage) as writer:
        writer.write("/joint_states", 1_000, _fast_cdr_joint_state(), "sensor_msgs/msg/JointState")
        writer.write("/arm/joint_trajectory", 2_000, _trajectory_without_accelerations(),
                     "trajectory_msgs/msg/JointTrajectory")
    with open_bag(tmp_path / "bag") as bag:
        (_, js), (_, traj) = list(bag.read())
    assert list(js.name) == ["a", "b"] and js.position.tolist() == [0.5, -0.25]
    assert js.effort.size == 0 and js.velocity.size == 0
    assert (js.header.stamp.sec, js.header.stamp.nanosec, js.header.frame_id) == (12, 345, "base")
    assert traj.joint_names == ["a", "b"] and len(traj.points) == 2
    assert traj.points[1].velocities.tolist() == [0.0, 1.0] and traj.points[1].accelerations.size == 0
    assert traj.points[0].time_from_start.nanosec == 100_000_000


def test_conversions_between_rosbags_and_rclpy() -> None:
    ts = default_typestore()
    ros_msg = _fast_cdr_joint_state()
    obj = rclpy_to_rosbags(ros_msg, "sensor_msgs/msg/JointState", ts)
    assert isinstance(obj.position, np.ndarray) and obj.position.dtype == np.float64
    back = to_rclpy(obj, "sensor_msgs/msg/JointState", ts)
    assert type(back) is type(ros_msg) and list(back.position) == [0.5, -0.25] and back.header.stamp.sec == 12
    assert rclpy_class("trajectory_msgs/msg/JointTrajectory").__name__ == "JointTrajectory"
    with pytest.raises(ConversionError, match="no rclpy message class"):
        rclpy_class("nonexistent_msgs/msg/Thing")
    with pytest.raises(ConversionError, match="package/msg/Name"):
        rclpy_class("JointState")
    with pytest.raises(ConversionError, match="cannot decode"):
        deserialize(b"\x00\x01\x00\x00\x01", "sensor_msgs/msg/JointState", ts)


def test_header_stamp_is_read_without_decoding() -> None:
    from rclpy.serialization import serialize_message

    assert header_stamp_ns(bytes(serialize_message(_fast_cdr_joint_state()))) == 12 * 10**9 + 345
    assert header_stamp_ns(b"\x00\x01") is None


# ---- malformed bags ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def good_bags(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("good")
    spec = SyntheticBagSpec(duration=1.0)
    return {s: write_synthetic_bag(root / s, spec, storage=s) for s in STORAGES}


def _storage_file(bag: Path) -> Path:
    return next(p for p in bag.iterdir() if p.suffix in (".mcap", ".db3"))


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _listing_ok(text: str) -> None:
    assert "/joint_states" in text and "sensor_msgs/msg/JointState" in text and "/camera/image_raw" in text


@pytest.mark.parametrize("storage", STORAGES)
def test_truncated_bag_error_lists_what_metadata_says(tmp_path: Path, good_bags: dict[str, Path],
                                                      storage: str) -> None:
    bag = _copy(good_bags[storage], tmp_path / "cut")
    data = _storage_file(bag)
    with open(data, "r+b") as fh:
        fh.truncate(data.stat().st_size // 2)
    with pytest.raises(BagError, match="truncated, corrupt") as info, open_bag(bag) as reader:
        list(reader.read())
    _listing_ok(str(info.value))


MCAP_MAGIC_BYTES = 8
MCAP_RECORD_PREFIX = 9        # opcode (1 byte) + content length (uint64)
MCAP_CHUNK_OPCODE = 0x06
CLOBBER_BYTES = 32


def test_corrupt_mcap_chunk_error_lists_the_bag(tmp_path: Path, good_bags: dict[str, Path]) -> None:
    """Garbage in the first message chunk's header (what a disk error or a bad copy leaves behind)."""
    bag = _copy(good_bags["mcap"], tmp_path / "corrupt")
    data = _storage_file(bag)
    raw = bytearray(data.read_bytes())
    pos = MCAP_MAGIC_BYTES
    while raw[pos] != MCAP_CHUNK_OPCODE:
        pos += MCAP_RECORD_PREFIX + int.from_bytes(raw[pos + 1: pos + MCAP_RECORD_PREFIX], "little")
    start = pos + MCAP_RECORD_PREFIX
    raw[start: start + CLOBBER_BYTES] = b"\xff" * CLOBBER_BYTES
    data.write_bytes(bytes(raw))
    with pytest.raises(BagError, match="corrupt") as info, open_bag(bag) as reader:
        list(reader.read())
    _listing_ok(str(info.value))


def test_missing_and_non_bag_paths(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="does not exist"):
        open_bag(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BagError, match=r"not a rosbag2 bag: no metadata\.yaml"):
        open_bag(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(BagError, match="cannot open bag"):
        open_bag(tmp_path / "notes.txt")


def test_bad_metadata_is_reported(tmp_path: Path, good_bags: dict[str, Path]) -> None:
    bag = _copy(good_bags["sqlite3"], tmp_path / "meta")
    (bag / "metadata.yaml").write_text("rosbag2_bagfile_information: [unclosed")
    with pytest.raises(BagError, match=r"metadata\.yaml"):
        open_bag(bag)


@pytest.mark.parametrize("storage", STORAGES)
def test_bag_without_metadata_is_read_from_its_storage_file(tmp_path: Path, good_bags: dict[str, Path],
                                                            storage: str) -> None:
    """A recording killed before it wrote metadata.yaml is still readable."""
    bag = _copy(good_bags[storage], tmp_path / "nometa")
    (bag / "metadata.yaml").unlink()
    with open_bag(bag) as reader:
        assert reader.topics["/joint_states"].count > 0
        assert sum(1 for _ in reader.read()) == reader.message_count


def test_require_lists_missing_topics_wrong_types_and_contents(good_bags: dict[str, Path]) -> None:
    with BagReader(good_bags["mcap"]) as bag:
        bag.require({"/joint_states": ("sensor_msgs/msg/JointState",)})
        with pytest.raises(BagError) as info:
            bag.require({"/wrist/image_raw": ("sensor_msgs/msg/Image",),
                         "/joint_states": ("std_msgs/msg/Float64MultiArray",)})
    text = str(info.value)
    assert "required topic /wrist/image_raw (sensor_msgs/msg/Image) is missing" in text
    assert "/joint_states has type sensor_msgs/msg/JointState, expected std_msgs/msg/Float64MultiArray" in text
    _listing_ok(text)


def test_writer_refuses_to_overwrite_and_unknown_storage(tmp_path: Path, good_bags: dict[str, Path]) -> None:
    with pytest.raises(BagError, match="exists already"):
        BagWriter(good_bags["mcap"])
    with pytest.raises(BagError, match="storage 'rosbag1'"):
        BagWriter(tmp_path / "x", storage="rosbag1")
    with BagWriter(tmp_path / "y") as writer:
        writer.add_topic("/a", "std_msgs/msg/String")
        with pytest.raises(BagError, match="already has type"):
            writer.add_topic("/a", "std_msgs/msg/Float64")
        with pytest.raises(BagError, match="was not added"):
            writer.write("/b", 0, b"")


def test_latched_topics(good_bags: dict[str, Path]) -> None:
    with open_bag(good_bags["sqlite3"]) as bag:
        assert bag.latched_topics() == {INSTRUCTION_TOPIC}
