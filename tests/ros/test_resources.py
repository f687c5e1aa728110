"""Shipped files are found, and the Fast DDS profile is defaulted without overriding the user's choice."""

from __future__ import annotations

from mgselect_node.ros.resources import default_fastdds_profile, find_shared_file


def test_shipped_files_are_found_in_a_checkout():
    assert find_shared_file("config/fastdds_shm.xml").read_text().count("<segment_size>") == 1
    assert find_shared_file("config/nope.xml") is None


def test_profile_defaults_for_fastdds3():
    env: dict[str, str] = {}
    path = default_fastdds_profile(env)
    assert path and path.endswith("config/fastdds_shm.xml")
    assert env == {"FASTDDS_DEFAULT_PROFILES_FILE": path}


def test_profile_uses_the_old_variable_on_fastdds2_distros():
    env = {"ROS_DISTRO": "jazzy"}
    path = default_fastdds_profile(env)
    assert env["FASTRTPS_DEFAULT_PROFILES_FILE"] == path and "FASTDDS_DEFAULT_PROFILES_FILE" not in env


def test_user_profile_wins():
    for name in ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE"):
        env = {name: "/mine.xml"}
        assert default_fastdds_profile(env) is None
        assert env == {name: "/mine.xml"}
