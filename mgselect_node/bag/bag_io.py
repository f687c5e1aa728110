"""Read and write rosbag2 bags (sqlite3 and MCAP) with rosbags, with errors a user can act on.

Why a wrapper: rosbags' own errors are terse (a KeyError from a metadata file, an sqlite3 error from a
truncated database, a struct error deep inside an MCAP chunk). Every failure here becomes a BagError that
says what was wrong and what the bag holds, so `mgselect replay` can print it and exit without a traceback.
Messages come back as rosbags objects through cdr.deserialize, which handles Fast CDR's empty-float64[] quirk.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from rosbags.interfaces import QosDurability
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import get_types_from_idl, get_types_from_msg
from rosbags.typesys.store import Typestore

from mgselect_node.bag.cdr import ConversionError, default_typestore, deserialize, serialize
from mgselect_node.errors import MGSelectError

STORAGES: dict[str, StoragePlugin] = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
DEFAULT_STORAGE = "mcap"  # rosbag2's default since Iron
ROSBAG2_VERSION = 9       # what Jazzy/Kilted rosbag2 writes
NS_PER_S = 1_000_000_000
LATCHED_BY_DEFAULT_TYPE = "std_msgs/msg/String"
_STORAGE_SUFFIXES = {".mcap": "mcap", ".db3": "sqlite3"}


class BagError(MGSelectError):
    """A bag is missing, unreadable, truncated, or lacks what the caller needs; the message says which."""


@dataclass(frozen=True)
class TopicInfo:
    """One topic of a bag."""

    topic: str
    msgtype: str
    count: int


@dataclass(frozen=True)
class BagMessage:
    """One recorded message: raw CDR bytes plus where and when it was recorded (bag receive time)."""

    topic: str
    msgtype: str
    time_ns: int
    raw: bytes

    @property
    def time_s(self) -> float:
        return self.time_ns / NS_PER_S


def _storage_of(path: Path) -> str:
    if path.is_file():
        return _STORAGE_SUFFIXES.get(path.suffix, path.suffix)
    for suffix, name in _STORAGE_SUFFIXES.items():
        if any(path.glob(f"*{suffix}")):
            return name
    return "unknown"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


def _describe_metadata(path: Path) -> str:
    """What metadata.yaml says the bag holds, for when the storage file itself cannot be opened."""
    import yaml

    meta_path = path / "metadata.yaml" if path.is_dir() else path.parent / "metadata.yaml"
    try:
        with open(meta_path) as fh:
            info = yaml.safe_load(fh)["rosbag2_bagfile_information"]
        topics = [(t["topic_metadata"]["name"], t["topic_metadata"]["type"], t["message_count"])
                  for t in info.get("topics_with_message_count") or []]
    except Exception as exc:
        return f"(nor can its metadata.yaml say what it holds: {type(exc).__name__}: {_first_line(exc)})"
    lines = [f"metadata.yaml says it holds ({info.get('storage_identifier', '?')}, "
             f"{info.get('message_count', '?')} messages):"]
    lines += [f"  {name}  {msgtype}  ({count} msgs)" for name, msgtype, count in sorted(topics)]
    return "\n".join(lines)


class BagReader:
    """An open bag. Use as a context manager; `messages()` yields BagMessage in recorded-time order."""

    def __init__(self, path: str | Path, typestore: Typestore | None = None) -> None:
        self.path = Path(path)
        self.typestore = typestore or default_typestore()
        self._reader = self._open(self.path)
        self.storage = _storage_of(self.path)
        self._register_bag_types()

    # ---- opening -------------------------------------------------------------------------------------------
    @staticmethod
    def _open(path: Path) -> Reader:
        if not path.exists():
            raise BagError(f"no bag at {path}: the path does not exist")
        target = path
        if path.is_dir() and not (path / "metadata.yaml").exists():
            # A recording killed before it wrote metadata.yaml: read its single storage file directly.
            files = [p for suffix in _STORAGE_SUFFIXES for p in sorted(path.glob(f"*{suffix}"))]
            if len(files) != 1:
                listing = sorted(p.name for p in path.iterdir())
                raise BagError(
                    f"{path} is not a rosbag2 bag: no metadata.yaml and {len(files)} .mcap/.db3 files "
                    f"(expected a bag directory or one storage file); it contains {listing}")
            target = files[0]
        try:
            reader = Reader(target)
            reader.open()
        except Exception as exc:  # rosbags raises ReaderError, but also sqlite3/KeyError/struct errors
            raise BagError(f"cannot open bag {path}: it is truncated, corrupt or not a rosbag2 bag "
                           f"({type(exc).__name__}: {_first_line(exc)})\n"
                           f"{_describe_metadata(path)}") from None
        return reader

    def _register_bag_types(self) -> None:
        """Types the standard store lacks (custom messages) come from the bag's own message definitions."""
        for conn in self._reader.connections:
            if conn.msgtype in self.typestore.types or not conn.msgdef.data:
                continue
            try:
                if conn.msgdef.format.name == "IDL":
                    types = get_types_from_idl(conn.msgdef.data)
                else:
                    types = get_types_from_msg(conn.msgdef.data, conn.msgtype)
                self.typestore.register(types)
            except Exception:  # an undecodable custom type only matters if someone reads it (decode says so)
                continue

    def close(self) -> None:
        if self._reader.is_open:
            self._reader.close()

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ---- contents ------------------------------------------------------------------------------------------
    @property
    def topics(self) -> dict[str, TopicInfo]:
        out: dict[str, TopicInfo] = {}
        for name, info in sorted(self._reader.topics.items()):
            msgtype = info.msgtype or "/".join(sorted({c.msgtype for c in info.connections}))
            out[name] = TopicInfo(name, msgtype, info.msgcount)
        return out

    @property
    def start_ns(self) -> int:
        return self._reader.start_time if self._reader.message_count else 0

    @property
    def end_ns(self) -> int:
        return self._reader.end_time if self._reader.message_count else 0

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) / NS_PER_S

    @property
    def message_count(self) -> int:
        return self._reader.message_count

    def describe(self) -> str:
        """What the bag holds, for error messages and `mgselect replay --info`."""
        lines = [f"bag {self.path} ({self.storage}, {self.duration_s:.2f} s, "
                 f"{self.message_count} messages) holds:"]
        if not self.topics:
            lines.append("  (no topics)")
        width = max((len(t) for t in self.topics), default=0)
        lines += [f"  {t.topic:<{width}}  {t.msgtype}  ({t.count} msgs)" for t in self.topics.values()]
        return "\n".join(lines)

    def latched_topics(self) -> set[str]:
        """Topics recorded from transient-local (latched) publishers, plus std_msgs/String ones (instructions
        are latched by convention; bags written by other tools often carry no QoS)."""
        out = set()
        for conn in self._reader.connections:
            profiles = getattr(conn.ext, "offered_qos_profiles", None) or []
            if profiles:
                latched = all(q.durability == QosDurability.TRANSIENT_LOCAL for q in profiles)
            else:
                latched = conn.msgtype == LATCHED_BY_DEFAULT_TYPE
            if latched:
                out.add(conn.topic)
        return out

    def require(self, expected: dict[str, tuple[str, ...]]) -> None:
        """Check that each topic exists with one of the allowed types; one BagError lists every problem."""
        problems = []
        topics = self.topics
        for topic, allowed in expected.items():
            if topic not in topics:
                problems.append(f"required topic {topic} ({' or '.join(allowed)}) is missing")
            elif topics[topic].msgtype not in allowed:
                problems.append(
                    f"topic {topic} has type {topics[topic].msgtype}, expected {' or '.join(allowed)}")
            elif topics[topic].count == 0:
                problems.append(f"topic {topic} has no messages")
        if problems:
            raise BagError("; ".join(problems) + "\n" + self.describe())

    # ---- messages ------------------------------------------------------------------------------------------
    def messages(self, topics: Iterable[str] | None = None, start_ns: int | None = None,
                 stop_ns: int | None = None) -> Iterator[BagMessage]:
        """Messages in recorded order; a truncated or corrupt storage file raises BagError where it breaks."""
        wanted = None if topics is None else set(topics)
        conns = [c for c in self._reader.connections if wanted is None or c.topic in wanted]
        if wanted is not None and not conns:
            return
        count, last_ns = 0, None
        try:
            for conn, time_ns, raw in self._reader.messages(connections=conns, start=start_ns, stop=stop_ns):
                count, last_ns = count + 1, time_ns
                yield BagMessage(conn.topic, conn.msgtype, time_ns, bytes(raw))
        except (sqlite3.Error, Exception) as exc:  # GeneratorExit is not an Exception: closing still works
            where = f"after {count} messages"
            if last_ns is not None:
                where += f" (last at t={last_ns / NS_PER_S:.3f} s)"
            raise BagError(f"bag {self.path} is truncated or corrupt: reading failed {where}: "
                           f"{type(exc).__name__}: {_first_line(exc)}\n{self.describe()}") from None

    def decode(self, message: BagMessage) -> Any:
        """The rosbags object of a BagMessage (handles the Fast CDR empty-float64[] quirk)."""
        try:
            return deserialize(message.raw, message.msgtype, self.typestore)
        except ConversionError as exc:
            raise BagError(f"bag {self.path}: message on {message.topic} at t={message.time_s:.3f} s "
                           f"cannot be decoded: {exc}") from None

    def read(self, topics: Iterable[str] | None = None) -> Iterator[tuple[BagMessage, Any]]:
        """(BagMessage, decoded object) pairs in recorded order."""
        for message in self.messages(topics):
            yield message, self.decode(message)


class BagWriter:
    """A new bag. Use as a context manager; `write()` takes rosbags objects, rclpy messages or CDR bytes."""

    def __init__(self, path: str | Path, storage: str = DEFAULT_STORAGE, typestore: Typestore | None = None,
                 ) -> None:
        if storage not in STORAGES:
            raise BagError(f"storage {storage!r} is not supported; expected one of {sorted(STORAGES)}")
        self.path = Path(path)
        self.storage = storage
        self.typestore = typestore or default_typestore()
        self._connections: dict[str, Any] = {}
        self._writer = Writer(self.path, version=ROSBAG2_VERSION, storage_plugin=STORAGES[storage]) \
            if not self.path.exists() else None
        if self._writer is None:
            raise BagError(f"{self.path} exists already; choose a new output bag path (never overwritten)")
        try:
            self._writer.open()
        except Exception as exc:
            raise BagError(f"cannot create bag {self.path}: {exc}") from None

    def add_topic(self, topic: str, msgtype: str) -> None:
        """Declare a topic (idempotent for the same type)."""
        if topic in self._connections:
            existing = self._connections[topic].msgtype
            if existing != msgtype:
                raise BagError(f"topic {topic} already has type {existing}, cannot also write {msgtype}")
            return
        if msgtype not in self.typestore.types:
            raise BagError(f"message type {msgtype} is unknown to the typestore; cannot record {topic}")
        self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=self.typestore)

    def write(self, topic: str, time_ns: int, msg: Any, msgtype: str | None = None) -> None:
        """Write one message; `msgtype` is needed only for the first message of a topic not yet added."""
        if topic not in self._connections:
            if msgtype is None:
                raise BagError(f"topic {topic} was not added; pass msgtype or call add_topic first")
            self.add_topic(topic, msgtype)
        conn = self._connections[topic]
        self._writer.write(conn, int(time_ns), serialize(msg, conn.msgtype, self.typestore))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def open_bag(path: str | Path) -> BagReader:
    """Open a bag for reading (directory with metadata.yaml, or a bare .mcap/.db3 file)."""
    return BagReader(path)
