"""Synthetic action set (stick-figure videos + skeletons) that a tiny PCAN learns on a CPU in minutes."""

from .dataset import ANN_FILE, VIDEO_DIR, SynthSet, SynthSpec, generate
from .motions import MOTIONS, class_names

__all__ = ["ANN_FILE", "MOTIONS", "VIDEO_DIR", "SynthSet", "SynthSpec", "class_names", "generate"]
