"""Stick-figure motions: COCO-17 joint positions of a front-facing figure as a function of phase.

Each motion is a distinct, periodic full-body pattern, so that both of PCAN's pathways (rendered RGB and
skeleton heatmaps) can tell the classes apart. Coordinates are body units: origin at the hip centre, y up,
the figure about 1.0 tall; the person's left side is at +x (they face the camera).
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pcan_serve.errors import InvalidRequest

# segment lengths (body units)
UPPER_ARM, FOREARM, THIGH, SHIN = 0.15, 0.14, 0.22, 0.22
SHOULDER_Y, SHOULDER_X, HIP_X = 0.33, 0.13, 0.09


@dataclass(frozen=True)
class Limbs:
    """Angles in radians, measured from straight down, positive = away from the body's midline."""

    l_arm: float = 0.15
    l_elbow: float = 0.0
    r_arm: float = 0.15
    r_elbow: float = 0.0
    l_leg: float = 0.05
    l_knee: float = 0.0
    r_leg: float = 0.05
    r_knee: float = 0.0
    drop: float = 0.0  # the hips sink by this much (squat)
    lift: float = 0.0  # the whole body rises by this much (jump)
    bow: float = 0.0  # forward bend of the torso, seen from the front as a foreshortened upper body
    l_raise: float = 0.0  # knee lift (march): foreshortening of the left thigh, 0..1
    r_raise: float = 0.0


def _dir(angle: float, side: float) -> np.ndarray:
    """Unit vector at ``angle`` from straight down, turned outwards on ``side`` (+1 left, -1 right)."""
    return np.array([side * np.sin(angle), -np.cos(angle)])


def pose_from_limbs(lb: Limbs) -> np.ndarray:
    """The 17 joints [17, 2] of a figure with these limb angles."""
    kp = np.zeros((17, 2))
    base = np.array([0.0, lb.lift - lb.drop])
    torso = SHOULDER_Y * np.cos(lb.bow)
    l_sh, r_sh = base + [SHOULDER_X, torso], base + [-SHOULDER_X, torso]
    head = base + [0.0, torso + 0.12 * np.cos(lb.bow) - 0.04 * np.sin(lb.bow)]
    kp[0] = head
    kp[1], kp[2] = head + [0.025, 0.02], head + [-0.025, 0.02]
    kp[3], kp[4] = head + [0.05, 0.0], head + [-0.05, 0.0]
    kp[5], kp[6] = l_sh, r_sh
    arms = ((1, l_sh, lb.l_arm, lb.l_elbow, (7, 9)), (-1, r_sh, lb.r_arm, lb.r_elbow, (8, 10)))
    for side, sh, arm, elbow, (e_i, w_i) in arms:
        kp[e_i] = sh + UPPER_ARM * _dir(arm, side)
        kp[w_i] = kp[e_i] + FOREARM * _dir(arm + elbow, side)
    for side, leg, knee, raise_, (h_i, k_i, a_i) in (
        (1, lb.l_leg, lb.l_knee, lb.l_raise, (11, 13, 15)),
        (-1, lb.r_leg, lb.r_knee, lb.r_raise, (12, 14, 16)),
    ):
        hip = base + [side * HIP_X, 0.0]
        kp[h_i] = hip
        if lb.drop > 0:  # feet stay on the floor: two-link solve with the knee pushed outwards
            ankle = np.array([side * (HIP_X + 0.02), -(THIGH + SHIN)])
            span = ankle - hip
            half = np.linalg.norm(span) / 2
            normal = np.array([-span[1], span[0]]) / (2 * half)
            normal *= np.sign(normal[0] * side) or 1.0
            kp[k_i] = hip + span / 2 + np.sqrt(max(THIGH**2 - half**2, 0.0)) * normal
            kp[a_i] = ankle
            continue
        thigh = THIGH * (1.0 - 0.8 * raise_)
        kp[k_i] = hip + thigh * _dir(leg, side)
        kp[a_i] = kp[k_i] + SHIN * _dir(leg + knee, side)
    return kp


def _wave(p: float) -> Limbs:
    return Limbs(r_arm=2.5, r_elbow=0.55 * np.sin(p), l_arm=0.12)


def _jumping_jack(p: float) -> Limbs:
    s = (1 - np.cos(p)) / 2
    return Limbs(l_arm=0.2 + 2.5 * s, r_arm=0.2 + 2.5 * s, l_leg=0.05 + 0.4 * s, r_leg=0.05 + 0.4 * s, lift=0.04 * s)


def _squat(p: float) -> Limbs:
    s = (1 - np.cos(p)) / 2
    return Limbs(drop=0.02 + 0.17 * s, l_arm=0.3 + 1.0 * s, r_arm=0.3 + 1.0 * s)


def _punch(p: float) -> Limbs:
    left, right = (1 + np.sin(p)) / 2, (1 - np.sin(p)) / 2  # 1 = fully extended
    return Limbs(l_arm=1.5, l_elbow=1.6 * (1 - left), r_arm=1.5, r_elbow=1.6 * (1 - right))


def _kick(p: float) -> Limbs:
    s = max(np.sin(p), 0.0)
    return Limbs(r_leg=0.05 + 1.1 * s, r_knee=-0.3 * s, l_arm=0.3 + 0.5 * s, r_arm=0.3)


def _arm_circles(p: float) -> Limbs:
    return Limbs(l_arm=1.6 + 0.9 * np.sin(p), r_arm=1.6 + 0.9 * np.sin(p), l_elbow=0.0, r_elbow=0.0)


def _march(p: float) -> Limbs:
    left, right = max(np.sin(p), 0.0), max(-np.sin(p), 0.0)
    return Limbs(l_raise=left, r_raise=right, l_arm=0.1 + 0.4 * right, r_arm=0.1 + 0.4 * left)


def _bow(p: float) -> Limbs:
    s = (1 - np.cos(p)) / 2
    return Limbs(bow=1.1 * s, l_arm=0.1, r_arm=0.1)


MOTIONS: dict[str, Callable[[float], Limbs]] = {  # label order: the first ones differ the most
    "wave": _wave,
    "squat": _squat,
    "punch": _punch,
    "kick": _kick,
    "jumping_jack": _jumping_jack,
    "march": _march,
    "arm_circles": _arm_circles,
    "bow": _bow,
}


def class_names(num_classes: int) -> tuple[str, ...]:
    """The first ``num_classes`` motions, in label order."""
    if not 2 <= num_classes <= len(MOTIONS):
        raise InvalidRequest(f"the synthetic set has 2..{len(MOTIONS)} classes, not {num_classes}")
    return tuple(MOTIONS)[:num_classes]


def motion_sequence(name: str, num_frames: int, cycles: float, phase: float, mirror: bool) -> np.ndarray:
    """Joints [T, 17, 2] in body units for ``cycles`` repetitions over ``num_frames`` frames."""
    fn = MOTIONS[name]
    phases = phase + 2 * np.pi * cycles * np.arange(num_frames) / num_frames
    seq = np.stack([pose_from_limbs(fn(float(p))) for p in phases])
    if mirror:  # the same motion done with the other side of the body
        seq[..., 0] *= -1
        swap = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
        seq = seq[:, swap]
    return seq
