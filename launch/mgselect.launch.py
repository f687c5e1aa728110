"""Launch the mgselect lifecycle node on a real ROS 2 install (Kilted/Jazzy; needs launch_ros).

    ros2 launch mgselect_node mgselect.launch.py params_file:=/path/to/params.yaml \
        namespace:=robot1 use_sim_time:=false controller_name:=arm_controller

params_file defaults to the package's config/mgselect.yaml. controller_name, when given, overrides the one in
the params file. The node configures and activates itself when its `autostart` parameter is true (default);
with autostart false drive it with `ros2 lifecycle set /<namespace>/mgselect configure|activate`.
The node's entry point selects the package's Fast DDS shared-memory profile unless one is already set.
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription
from mgselect_node.contracts import EXECUTABLE, NODE_NAME

PACKAGE = "mgselect_node"
# launch argument -> (default, description)
ARGUMENTS = {
    "params_file": (PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "mgselect.yaml"]),
                    "ros__parameters YAML for the mgselect node"),
    "namespace": ("", "namespace for the node (and its relative topics)"),
    "use_sim_time": ("false", "use /clock (simulation or rosbag time) for message ages"),
    "controller_name": ("", "joint_trajectory_controller to command; empty = the params file's"),
}
# node parameter -> launch argument that sets it (when not empty)
NODE_PARAMETER_ARGS = {"use_sim_time": "use_sim_time", "controller_name": "controller_name"}
TRUE_STRINGS = ("true", "1", "yes", "on")


def _node(context, *args, **kwargs):
    overrides = {}
    for parameter, argument in NODE_PARAMETER_ARGS.items():
        value = LaunchConfiguration(argument).perform(context)
        if parameter == "use_sim_time":
            overrides[parameter] = value.strip().lower() in TRUE_STRINGS
        elif value:
            overrides[parameter] = value
    return [
        LifecycleNode(
            package=PACKAGE,
            executable=EXECUTABLE,
            name=NODE_NAME,
            namespace=LaunchConfiguration("namespace"),
            output="screen",
            emulate_tty=True,
            parameters=[LaunchConfiguration("params_file"), overrides],
        )
    ]


def generate_launch_description():
    declared = [DeclareLaunchArgument(name, default_value=default, description=description)
                for name, (default, description) in ARGUMENTS.items()]
    return LaunchDescription([*declared, OpaqueFunction(function=_node)])
