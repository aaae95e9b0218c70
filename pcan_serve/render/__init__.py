"""Pictures of what the model saw: annotated videos and timeline plots (downstream of runtime; only the CLI and
the HTTP layer import this stage)."""

from .annotate import annotate_video
from .files import write_pictures
from .timeline_plot import plot_timeline

__all__ = ["annotate_video", "plot_timeline", "write_pictures"]
