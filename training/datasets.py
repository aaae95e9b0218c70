"""``NTUPoseDataset``: mmaction2's PoseDataset reading NTU RGB+D videos from either layout, converting nothing.

``video_layout`` (``pcan train --video-layout``; docs/architecture.md "NTU-60 on disk"):

- ``mmaction2`` (default): ``DATA_ROOT/nturgbd_videos/{frame_dir}.mp4``, 960x540, as mmaction2's
  ``compress_nturgbd.py`` makes them (its RGBPoseConv3D README calls that step mandatory);
- ``raw``: the NTU download as it is, ``DATA_ROOT/nturgb+d_rgb/{frame_dir}_rgb.avi``, 1920x1080.

Both read the same ``ntu60_2d.pkl``, whose keypoints are in 1920x1080 pixels: ``MMDecode`` rescales them to the
size of the decoded frames (by 0.5 for the compressed videos, not at all for the raw ones).
"""

from training import mmaction_compat

mmaction_compat.apply()

from mmaction.datasets import PoseDataset  # noqa: E402
from mmaction.registry import DATASETS  # noqa: E402

# layout -> (video folder under the data root, file name after frame_dir)
VIDEO_LAYOUTS = {"mmaction2": ("nturgbd_videos", ".mp4"), "raw": ("nturgb+d_rgb", "_rgb.avi")}


@DATASETS.register_module()
class NTUPoseDataset(PoseDataset):
    """PoseDataset whose videos are found by ``video_layout``; an explicit ``data_prefix`` overrides the folder.

    Annotations that name their video (``filename``, e.g. the synthetic set's) are read as they are.
    """

    def __init__(self, *args, video_layout: str = "mmaction2", data_prefix: dict | None = None, **kwargs) -> None:
        if video_layout not in VIDEO_LAYOUTS:
            raise ValueError(f"video_layout must be one of {', '.join(VIDEO_LAYOUTS)}, got {video_layout!r}")
        self.video_layout = video_layout
        super().__init__(*args, data_prefix=data_prefix or dict(video=VIDEO_LAYOUTS[video_layout][0]), **kwargs)

    def load_data_list(self) -> list[dict]:
        data_list = super().load_data_list()  # frame_dir is already joined with the video folder
        suffix = VIDEO_LAYOUTS[self.video_layout][1]
        for item in data_list:
            item.setdefault("filename", item["frame_dir"] + suffix)
        return data_list
