"""The closed-loop demo on a real ROS 2 install: the simulated arm, the MG-Select node with the default
MG-Select* bundle, and a rosbag of the run (what `make demo` does with the package's own entry points).

    ros2 launch mgselect_node sim_demo.launch.py episodes:=3 bag:=demo_bag

The arm publishes /camera/image_raw and /joint_states, executes arm_controller/joint_trajectory, and sends each
episode's instruction to /mgselect/instruction. Episode results: `ros2 topic echo /mgselect_sim/episode_result`.
"""

from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription
from mgselect_node.contracts import DEMO_RECORDED_TOPICS, EXECUTABLE, NODE_NAME

PACKAGE = "mgselect_node"
ARGUMENTS = {
    "episodes": ("3", "simulated episodes before the arm stops"),
    "params_file": (PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "mgselect.yaml"]),
                    "ros__parameters YAML for the mgselect node"),
    "bag": ("mgselect_demo_bag", "rosbag2 output directory"),
}


def generate_launch_description():
    declared = [DeclareLaunchArgument(name, default_value=default, description=description)
                for name, (default, description) in ARGUMENTS.items()]
    sim = Node(package=PACKAGE, executable="mgselect", output="screen",
               arguments=["sim", "--episodes", LaunchConfiguration("episodes"), "--instruction-topic"])
    policy = LifecycleNode(package=PACKAGE, executable=EXECUTABLE, name=NODE_NAME, namespace="",
                           output="screen", parameters=[LaunchConfiguration("params_file")])
    record = ExecuteProcess(cmd=["ros2", "bag", "record", "-o", LaunchConfiguration("bag"), *DEMO_RECORDED_TOPICS],
                            output="screen")
    return LaunchDescription([*declared, sim, policy, record])
