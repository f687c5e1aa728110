"""SimEnv: the tabletop arm of arm.xml as a seeded, language-conditioned episode environment.

Task: three of four coloured pads (red, green, blue, yellow) lie at random places on the table; the instruction
"touch the <colour> pad" names one (or, with instruction_style="position", "touch the left pad":
sim/instructions.py). Success (latched): the fingertip touches that pad within `success_tolerance`
of its centre (2 cm horizontally by default; "touches" = the fingertip's underside at most
TOUCH_HEIGHT_TOLERANCE above the pad's surface). Aiming 1.5 cm off still succeeds, 2.5 cm off never does, and
touching a wrong pad does not count. The policy sees one fixed camera and the four joint positions and
commands absolute joint position targets at `control_rate` (10 Hz); inside a control step the servo setpoint
moves linearly from the previous target to the new one over the physics substeps, as a
joint_trajectory_controller would between two points, so in-process evaluation and the ROS node agree.

Determinism: a scene is a pure function of its episode seed (`reset(seed=k)` is the same scene whatever came
before); `SimEnv(seed)` draws the episode seeds of successive `reset()` calls from its own generator.

Rendering is offscreen on the CPU. MUJOCO_GL defaults to "egl" (Mesa's EGL + llvmpipe, no display needed;
Debian packages libegl1, libegl-mesa0 and libgl1-mesa-dri, present on the stock image). "osmesa" works too
where libosmesa6 is installed.
"""

from __future__ import annotations

import importlib
import math
import os
from dataclasses import dataclass
from importlib import resources

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")  # before mujoco is imported: it picks its GL backend at import

import mujoco

from mgselect_node.errors import InputError
from mgselect_node.sim.instructions import DEFAULT_INSTRUCTION_STYLE, check_style, instruction_for
from mgselect_node.sim.kinematics import PAD_TOP, TIP_RADIUS

TASKS: tuple[str, ...] = ("red", "green", "blue", "yellow")
JOINT_NAMES: tuple[str, ...] = ("joint1", "joint2", "joint3", "joint4")
CAMERA_NAMES: tuple[str, ...] = ("front",)
TIP_SITE = "tip"
PAD_BODY = "pad_{color}"
MODEL_FILE = "arm.xml"

DEFAULT_IMAGE_SIZE = 96
DEFAULT_CONTROL_RATE = 10.0  # Hz
DEFAULT_EPISODE_SECONDS = 10.0
DEFAULT_NUM_OBJECTS = 3
DEFAULT_SUCCESS_TOLERANCE = 0.02  # m, horizontal distance of the fingertip centre from the pad's centre
TOUCH_HEIGHT_TOLERANCE = 0.006  # m the fingertip may hover above the pad surface and still count as touching

# Scene randomization: the pads sit on a random choice of PAD_SLOTS (polar: m from the base axis, rad around
# the base's forward +x direction), each jittered by up to +-PAD_JITTER per axis, colours shuffled. Why slots and
# not free placement: a small policy trained from scratch on ~100 demonstrations did not learn to localize
# (smaller) pads placed anywhere on the table (measured: greedy success 0-2%); with slots it must still ground
# the colour word in the image, pick the right one of several places and end within the tolerance of a
# jittered centre. Jittered pads (7 cm across, arm.xml) never overlap.
PAD_SLOTS = ((0.18, -0.6), (0.18, 0.0), (0.18, 0.6), (0.28, -0.3), (0.28, 0.3))
PAD_JITTER = 0.01  # m
PAD_HIDDEN_POSITION = (0.0, 0.0, -1.0)  # under the table: pads not in this scene
PAD_CENTRE_HEIGHT = PAD_TOP / 2.0

# Start pose: arm raised in front of the base, every joint jittered per episode.
HOME_POSITION = (0.0, 0.2, 1.3, 1.2)
HOME_JITTER = 0.15  # rad, uniform +- per joint

SEED_BOUND = 2**31  # episode seeds are drawn from [0, SEED_BOUND)


@dataclass(frozen=True)
class Observation:
    """What a policy sees at one control step."""

    image: np.ndarray  # (H, W, 3) uint8 RGB from the fixed "front" camera
    state: np.ndarray  # (4,) float64 joint positions in JOINT_NAMES order (rad)
    instruction: str
    time: float  # s since the episode's reset

    @property
    def images(self) -> list[np.ndarray]:
        """One image per camera, in CAMERA_NAMES order (the engine's `images` argument)."""
        return [self.image]


def _load_model() -> mujoco.MjModel:
    xml = resources.files(__package__).joinpath(MODEL_FILE).read_text()
    return mujoco.MjModel.from_xml_string(xml)


class SimEnv:
    """Seeded episodes of "touch the <colour> pad" with a position-controlled 4-joint arm."""

    joint_names: tuple[str, ...] = JOINT_NAMES
    camera_names: tuple[str, ...] = CAMERA_NAMES
    tasks: tuple[str, ...] = TASKS

    def __init__(
        self,
        seed: int = 0,
        image_size: int = DEFAULT_IMAGE_SIZE,
        *,
        num_objects: int = DEFAULT_NUM_OBJECTS,
        control_rate: float = DEFAULT_CONTROL_RATE,
        episode_seconds: float = DEFAULT_EPISODE_SECONDS,
        success_tolerance: float = DEFAULT_SUCCESS_TOLERANCE,
        instruction_style: str = DEFAULT_INSTRUCTION_STYLE,
    ) -> None:
        if not 1 <= num_objects <= len(TASKS):
            raise InputError(f"num_objects={num_objects}: expected 1..{len(TASKS)} pads on the table")
        if image_size < 8:
            raise InputError(f"image_size={image_size}: expected at least 8 pixels")
        if control_rate <= 0 or episode_seconds <= 0 or success_tolerance <= 0:
            raise InputError(
                f"control_rate={control_rate}, episode_seconds={episode_seconds}, "
                f"success_tolerance={success_tolerance}: all must be > 0")
        self.model = _load_model()
        self.data = mujoco.MjData(self.model)
        self.image_size = int(image_size)
        self.num_objects = int(num_objects)
        self.control_rate = float(control_rate)
        self.episode_seconds = float(episode_seconds)
        self.success_tolerance = float(success_tolerance)
        self.instruction_style = instruction_style
        self.physics_dt = float(self.model.opt.timestep)
        substeps = 1.0 / (self.control_rate * self.physics_dt)
        self.substeps = max(1, round(substeps))
        self.max_steps = max(1, round(self.episode_seconds * self.control_rate))

        self._joint_qpos = np.array([self.model.joint(n).qposadr[0] for n in JOINT_NAMES])
        self._joint_dof = np.array([self.model.joint(n).dofadr[0] for n in JOINT_NAMES])
        self._actuators = np.array([self.model.actuator(n).id for n in JOINT_NAMES])
        self.joint_lower = np.array([self.model.joint(n).range[0] for n in JOINT_NAMES])
        self.joint_upper = np.array([self.model.joint(n).range[1] for n in JOINT_NAMES])
        self._tip_site = self.model.site(TIP_SITE).id
        self._pad_mocap = {c: self.model.body_mocapid[self.model.body(PAD_BODY.format(color=c)).id] for c in TASKS}

        self._seed_rng = np.random.default_rng(seed)
        self._renderer: mujoco.Renderer | None = None
        self._command = np.zeros(len(JOINT_NAMES))
        self.episode_seed: int | None = None
        self.task: str = TASKS[0]
        self.pad_positions: dict[str, np.ndarray] = {}
        self.steps = 0
        self._success = False
        self.reset()

    # ---- episode API -------------------------------------------------------------------------------------

    @property
    def instruction_style(self) -> str:
        """How the instruction names the pad (sim/instructions.py); may change between episodes."""
        return self._instruction_style

    @instruction_style.setter
    def instruction_style(self, style: str) -> None:
        self._instruction_style = check_style(style)

    @property
    def instruction(self) -> str:
        return instruction_for(self.task, self.pad_positions, self._instruction_style)

    @property
    def target_position(self) -> np.ndarray:
        """Where the fingertip centre must go: resting on the named pad's centre."""
        return self.touch_point(self.task)

    def touch_point(self, color: str) -> np.ndarray:
        pad = self.pad_positions[color]
        return np.array([pad[0], pad[1], PAD_TOP + TIP_RADIUS])

    @property
    def success(self) -> bool:
        """True once the fingertip has touched the named pad this episode (latched)."""
        return self._success

    @property
    def done(self) -> bool:
        return self._success or self.steps >= self.max_steps

    def reset(self, seed: int | None = None, task: str | None = None, target: str | None = None) -> Observation:
        """Start an episode. seed: the scene (None = next from this env's generator); task: colour override
        (the named pad keeps the seed's target place); target: name another pad of the same scene (layout and
        colours unchanged, so one image goes with several instructions)."""
        if task is not None and task not in TASKS:
            raise InputError(f"task={task!r}: expected one of {list(TASKS)}")
        if task is not None and target is not None:
            raise InputError("reset: give task or target, not both")
        self.episode_seed = int(self._seed_rng.integers(SEED_BOUND)) if seed is None else int(seed)
        rng = np.random.default_rng(self.episode_seed)
        colors = [TASKS[i] for i in rng.permutation(len(TASKS))[: self.num_objects]]
        places = self._sample_pad_places(rng)
        target_slot = int(rng.integers(self.num_objects))
        if task is not None:
            # Keep the layout of this seed; the pad at the target slot takes the requested colour.
            if task in colors:
                other = colors.index(task)
                colors[other], colors[target_slot] = colors[target_slot], colors[other]
            else:
                colors[target_slot] = task
        if target is not None:
            if target not in colors:
                raise InputError(f"target={target!r}: scene {self.episode_seed} has only the pads {colors}")
            target_slot = colors.index(target)
        self.task = colors[target_slot]
        self.pad_positions = dict(zip(colors, places, strict=True))
        home = np.asarray(HOME_POSITION) + rng.uniform(-HOME_JITTER, HOME_JITTER, len(JOINT_NAMES))

        mujoco.mj_resetData(self.model, self.data)
        for color, mocap in self._pad_mocap.items():
            self.data.mocap_pos[mocap] = self.pad_positions.get(color, PAD_HIDDEN_POSITION)
        self.data.qpos[self._joint_qpos] = home
        self._command = home.copy()
        self.data.ctrl[self._actuators] = home
        mujoco.mj_forward(self.model, self.data)
        self.steps = 0
        self._success = False
        return self.observe()

    def step(self, joint_targets: np.ndarray) -> Observation:
        """Command absolute joint targets (4,) for the next 1/control_rate seconds; returns the new observation.

        Targets outside the joint limits are clipped to them (the servo could not reach them anyway).
        """
        target = self._validated(joint_targets)
        start = self._command
        for k in range(1, self.substeps + 1):
            self.set_command(start + (target - start) * (k / self.substeps))
            self.advance()
        self.steps += 1
        self.update_success()
        return self.observe()

    def observe(self) -> Observation:
        return Observation(image=self.render(), state=self.joint_positions.copy(), instruction=self.instruction,
                           time=float(self.data.time))

    def info(self) -> dict[str, object]:
        """Diagnostics for evaluation: how far the tip is, and which pad it is nearest (wrong-target failures)."""
        tip = self.tip_position
        horizontal = {c: float(np.hypot(*(tip - p)[:2])) for c, p in self.pad_positions.items()}
        nearest = min(horizontal, key=horizontal.__getitem__)
        return {"seed": self.episode_seed, "task": self.task, "success": self._success, "steps": self.steps,
                "tip_distance": self.tip_distance, "tip_height": float(tip[2] - PAD_TOP - TIP_RADIUS),
                "nearest_pad": nearest, "nearest_horizontal_distance": horizontal[nearest]}

    # ---- low level (the ROS sim node drives physics itself) ------------------------------------------------

    @property
    def joint_positions(self) -> np.ndarray:
        return self.data.qpos[self._joint_qpos].copy()

    @property
    def joint_velocities(self) -> np.ndarray:
        return self.data.qvel[self._joint_dof].copy()

    @property
    def joint_efforts(self) -> np.ndarray:
        return self.data.actuator_force[self._actuators].copy()

    @property
    def tip_position(self) -> np.ndarray:
        return self.data.site_xpos[self._tip_site].copy()

    @property
    def tip_distance(self) -> float:
        """3-D distance of the fingertip centre from the touch point (diagnostics; success uses `touching`)."""
        return float(np.linalg.norm(self.tip_position - self.target_position))

    @property
    def sim_time(self) -> float:
        return float(self.data.time)

    def set_command(self, joint_targets: np.ndarray) -> None:
        """Servo setpoints for the following physics substeps (clipped to the joint limits)."""
        self._command = np.clip(np.asarray(joint_targets, dtype=np.float64), self.joint_lower, self.joint_upper)
        self.data.ctrl[self._actuators] = self._command

    def advance(self, substeps: int = 1) -> None:
        mujoco.mj_step(self.model, self.data, nstep=substeps)

    def touching(self, color: str) -> bool:
        """Fingertip on pad `color`: within success_tolerance of its centre horizontally, resting on it."""
        offset = self.tip_position - self.touch_point(color)
        return bool(np.hypot(offset[0], offset[1]) <= self.success_tolerance
                    and offset[2] <= TOUCH_HEIGHT_TOLERANCE)

    def update_success(self) -> bool:
        if self.touching(self.task):
            self._success = True
        return self._success

    def render(self, camera: str = CAMERA_NAMES[0]) -> np.ndarray:
        """RGB uint8 (image_size, image_size, 3) from `camera`."""
        if self._renderer is None:
            self._renderer = self._make_renderer()
        self._renderer.update_scene(self.data, camera=camera)
        return self._renderer.render().copy()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> SimEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- helpers -----------------------------------------------------------------------------------------

    def _make_renderer(self) -> mujoco.Renderer:
        try:
            return mujoco.Renderer(self.model, self.image_size, self.image_size)
        except Exception as exc:  # the GL backends raise assorted types; all mean "no offscreen context"
            # MuJoCo fixes its backend when first imported, so report the one it took, not today's variable.
            try:
                backend = importlib.import_module("mujoco.gl_context").GLContext.__module__
            except (ImportError, AttributeError):
                backend = "unknown"
            raise RuntimeError(
                f"MuJoCo could not open an offscreen OpenGL context (backend {backend}, "
                f"MUJOCO_GL={os.environ.get('MUJOCO_GL', '')!r}): {exc}. Set MUJOCO_GL=egl before anything "
                "imports mujoco; on Debian/Ubuntu EGL needs `apt-get install libegl1 libegl-mesa0 "
                "libgl1-mesa-dri` (or use MUJOCO_GL=osmesa with libosmesa6)") from exc

    def _sample_pad_places(self, rng: np.random.Generator) -> list[np.ndarray]:
        places = []
        for slot in rng.permutation(len(PAD_SLOTS))[: self.num_objects]:
            radial, angle = PAD_SLOTS[slot]
            jitter = rng.uniform(-PAD_JITTER, PAD_JITTER, 2)
            places.append(np.array([radial * math.cos(angle) + jitter[0], radial * math.sin(angle) + jitter[1],
                                    PAD_CENTRE_HEIGHT]))
        return places

    def _validated(self, joint_targets: np.ndarray) -> np.ndarray:
        try:
            target = np.asarray(joint_targets, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(f"joint_targets must be {len(JOINT_NAMES)} numbers, got {joint_targets!r}") from exc
        if target.shape != (len(JOINT_NAMES),):
            raise InputError(f"joint_targets has shape {target.shape}, expected ({len(JOINT_NAMES)},) "
                             f"in the order {list(JOINT_NAMES)}")
        if not np.all(np.isfinite(target)):
            raise InputError(f"joint_targets contains non-finite values: {target.tolist()}")
        return np.clip(target, self.joint_lower, self.joint_upper)
