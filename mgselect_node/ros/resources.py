"""Finding the package's shipped files (config/, launch/) and defaulting the Fast DDS profile.

Installed by colcon or apt the files live in the ament share directory; installed by pip they are under
`<prefix>/share/mgselect_node`; in a source checkout they sit next to the package. Looked up in that order.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

PACKAGE = "mgselect_node"
FASTDDS_PROFILE = "fastdds_shm.xml"
# Fast DDS 3.x (Kilted and later, and the PyPI wheels) reads FASTDDS_...; Fast DDS 2.x (Humble, Jazzy) reads
# FASTRTPS_... (rmw on 3.x still honours it with a deprecation warning). A profile the user set in either wins.
PROFILE_ENV_VARS = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
FASTDDS2_DISTROS = ("humble", "iron", "jazzy")
REPO_ROOT = Path(__file__).resolve().parents[2]


def share_candidates() -> list[Path]:
    """Directories that may hold config/ and launch/, most specific first."""
    out: list[Path] = []
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        get_package_share_directory = None
    if get_package_share_directory is not None:
        # OSError: AMENT_PREFIX_PATH unset (plain pip install); PackageNotFoundError: not in the index
        with contextlib.suppress(PackageNotFoundError, ValueError, LookupError, OSError):
            out.append(Path(get_package_share_directory(PACKAGE)))
    out.append(Path(sys.prefix) / "share" / PACKAGE)
    out.append(REPO_ROOT)
    return out


def find_shared_file(relative: str) -> Path | None:
    """First existing `<share>/<relative>` (e.g. 'config/mgselect.yaml'), or None."""
    for base in share_candidates():
        path = base / relative
        if path.is_file():
            return path
    return None


def default_fastdds_profile(env: MutableMapping[str, str] | None = None) -> str | None:
    """Point Fast DDS at the shipped shared-memory profile unless the user chose a profile already.

    Must run before rclpy.init (the participant reads it once). Returns the path set, or None.
    """
    target = os.environ if env is None else env
    if any(target.get(name) for name in PROFILE_ENV_VARS):
        return None
    path = find_shared_file(f"config/{FASTDDS_PROFILE}")
    if path is None:
        return None
    fastdds2 = target.get("ROS_DISTRO", "").lower() in FASTDDS2_DISTROS
    target[PROFILE_ENV_VARS[1] if fastdds2 else PROFILE_ENV_VARS[0]] = str(path)
    return str(path)
