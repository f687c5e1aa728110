"""Contracts between processes, defined once: node names, topic names and the per-inference seed.

The node, the simulator, the replay/record tools, the benchmarks, the closed-loop demo and the tests all talk
to each other through these names; a literal copy elsewhere would drift. Plain strings and integer arithmetic
only: importable without rclpy, torch or MuJoCo (launch files and the rclpy-free layers use it too).
"""

from __future__ import annotations

# ------------------------------------------------------------------------------------------------ nodes
NODE_NAME = "mgselect"              # the policy node (a lifecycle node)
SIM_NODE_NAME = "mgselect_sim"      # `mgselect sim`: the simulated arm
EXECUTABLE = "mgselect_node"        # console script that runs the policy node (`ros2 run mgselect_node ...`)

# ------------------------------------------------------------------------------------------------ topics
# The policy node's private topics, relative to the node ("~/..."): /<node>/<suffix> in the root namespace.
INSTRUCTION = "~/instruction"       # std_msgs/String, transient local: overrides the `instruction` parameter
SELECTION = "~/selection"           # std_msgs/Float64MultiArray: see mgselect_node.ros.messages
TRAJECTORY_SUFFIX = "joint_trajectory"   # <controller_name>/joint_trajectory (joint_trajectory_controller)
DIAGNOSTICS_TOPIC = "/diagnostics"
JOINT_STATES_TOPIC = "/joint_states"
CAMERA_TOPIC = "/camera/image_raw"  # the default (and the simulator's) camera
COMPRESSED_SUFFIX = "/compressed"    # a camera topic ending in this carries sensor_msgs/CompressedImage
CLOCK_TOPIC = "/clock"              # simulation time (use_sim_time), published by the sim and live replay
CONTROLLER_NAME = "arm_controller"  # the controller the simulator and the demo use
# The simulator's private topics: the start and result of every episode (JSON strings).
EPISODE = "~/episode"
EPISODE_RESULT = "~/episode_result"


def private_topic(relative: str, node: str = NODE_NAME) -> str:
    """Absolute name of a node's private topic ("~/selection" -> "/mgselect/selection"), root namespace."""
    return f"/{node.strip('/')}/{relative.removeprefix('~/')}"


def trajectory_topic(controller: str = CONTROLLER_NAME) -> str:
    """The topic a joint_trajectory_controller named `controller` reads."""
    return f"{controller.rstrip('/')}/{TRAJECTORY_SUFFIX}"


def diagnostic_prefix(node: str = NODE_NAME) -> str:
    """Every DiagnosticStatus the node publishes is named `<node>: ...` (how listeners pick its entries)."""
    return f"{node.strip('/')}:"


def lifecycle_service(node: str, service: str) -> str:
    """A lifecycle node's standard service, e.g. ("mgselect", "get_state") -> "/mgselect/get_state"."""
    return f"/{node.strip('/')}/{service}"


# What the closed-loop demo records (`mgselect demo` and launch/sim_demo.launch.py): enough to replay the run.
DEMO_RECORDED_TOPICS = (CAMERA_TOPIC, JOINT_STATES_TOPIC, private_topic(INSTRUCTION),
                        "/" + trajectory_topic(CONTROLLER_NAME), private_topic(SELECTION),
                        private_topic(EPISODE_RESULT, SIM_NODE_NAME), DIAGNOSTICS_TOPIC)

# ------------------------------------------------------------------------------------------------ seeds
SEED_MODULUS = 2**31     # SelectionConfig.seed range is [0, 2**31 - 1]
EPISODE_SEED_STRIDE = 1000   # evaluation: room for this many inferences per scene before seeds overlap


def inference_seed(base_seed: int, inference_index: int) -> int:
    """The sampling seed of the node's inference k: base + k (mod 2^31). Offline replay reproduces a live
    run's chunks only because both use this."""
    return (base_seed + inference_index) % SEED_MODULUS


def base_seed_for(seed: int, inference_index: int) -> int:
    """The base seed under which inference `inference_index` gets `seed` (the inverse of inference_seed)."""
    return (seed - inference_index) % SEED_MODULUS


def episode_inference_seed(scene_seed: int, inference_index: int) -> int:
    """Evaluation's sampling seed: scene seed x stride + inference index (mod 2^31), so every cell of a
    comparison samples with the same numbers on the same scene (common random numbers)."""
    return (scene_seed * EPISODE_SEED_STRIDE + inference_index) % SEED_MODULUS
