#!/bin/bash
# Source ROS and the workspace, then run the command (default: the launch file).
set -e
. "/opt/ros/${ROS_DISTRO}/setup.bash"
. /ws/install/setup.bash
exec "$@"
