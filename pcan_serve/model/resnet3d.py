"""3D ResNet pathway of RGBPoseConv3D, re-implemented in plain PyTorch.

Module and parameter names follow mmaction2 1.2.0 (``conv1.conv``, ``conv1.bn``, ``layer1.0.conv2.bn``,
``layer2_lateral.conv`` ...) so its checkpoints load without renaming. Only what RGBPoseConv3D uses is
built: Bottleneck blocks, 'pytorch' style strides, '3x1x1' inflation, BatchNorm, ReLU.
"""

from collections.abc import Sequence

import torch
from torch import nn


class ConvBNAct(nn.Module):
    """Conv3d -> BatchNorm3d -> optional ReLU; the parameter layout of mmcv's ``ConvModule``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int, int],
        stride: int | tuple[int, int, int] = 1,
        padding: int | tuple[int, int, int] = 0,
        activate: bool = True,
        norm: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.bn = nn.BatchNorm3d(out_channels) if norm else None
        self.activate = nn.ReLU(inplace=True) if activate else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.activate is not None:
            x = self.activate(x)
        return x


class DeConvBNAct(nn.Module):
    """Transposed Conv3d -> BatchNorm3d -> ReLU that multiplies T, H, W exactly by the stride.

    The output padding that makes the output ``stride * input`` is fixed at construction, so the
    module exports to ONNX as one static ConvTranspose (mmaction2 passes ``output_size`` at run time).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, int, int],
        stride: tuple[int, int, int],
        padding: tuple[int, int, int],
    ) -> None:
        super().__init__()
        output_padding = tuple(s - k + 2 * p for s, k, p in zip(stride, kernel_size, padding, strict=True))
        if any(op < 0 or op >= s for op, s in zip(output_padding, stride, strict=True)):
            raise ValueError(f"kernel {kernel_size}/stride {stride}/padding {padding} cannot upsample exactly")
        self.conv = nn.ConvTranspose3d(
            in_channels, out_channels, kernel_size, stride, padding, output_padding=output_padding, bias=False
        )
        self.bn = nn.BatchNorm3d(out_channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class Bottleneck3d(nn.Module):
    """1x1 (or 3x1x1 when inflated) -> 1x3x3 -> 1x1 bottleneck with a residual connection."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        spatial_stride: int = 1,
        temporal_stride: int = 1,
        downsample: nn.Module | None = None,
        inflate: bool = True,
    ) -> None:
        super().__init__()
        conv1_kernel, conv1_pad = ((3, 1, 1), (1, 0, 0)) if inflate else ((1, 1, 1), (0, 0, 0))
        self.conv1 = ConvBNAct(inplanes, planes, conv1_kernel, 1, conv1_pad)
        self.conv2 = ConvBNAct(planes, planes, (1, 3, 3), (temporal_stride, spatial_stride, spatial_stride), (0, 1, 1))
        self.conv3 = ConvBNAct(planes, planes * self.expansion, 1, activate=False)
        self.downsample = downsample
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.conv3(self.conv2(self.conv1(x)))
        return self.relu(out + identity)


def make_res_layer(
    inplanes: int,
    planes: int,
    blocks: int,
    spatial_stride: int,
    temporal_stride: int,
    inflate: bool,
) -> nn.Sequential:
    """One ResNet stage; the first block changes resolution/width, the rest keep it."""
    downsample = None
    if spatial_stride != 1 or inplanes != planes * Bottleneck3d.expansion:
        downsample = ConvBNAct(
            inplanes,
            planes * Bottleneck3d.expansion,
            1,
            stride=(temporal_stride, spatial_stride, spatial_stride),
            activate=False,
        )
    layers = [Bottleneck3d(inplanes, planes, spatial_stride, temporal_stride, downsample, inflate)]
    layers += [Bottleneck3d(planes * Bottleneck3d.expansion, planes, inflate=inflate) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class ResNet3dPathway(nn.Module):
    """A ResNet3d-50 pathway with lateral connections to its sibling pathway (SlowFast style).

    ``lateral_inv=False``: the lateral conv reads the *other, faster* pathway and strides it down in time
    (the RGB pathway reading pose). ``lateral_inv=True``: a transposed conv reads the other, slower
    pathway and upsamples it in time (the pose pathway reading RGB). A lateral conv named
    ``layer{i}_lateral`` feeds stage ``i + 1``; its output is concatenated to this pathway's features.
    """

    def __init__(
        self,
        in_channels: int,
        base_channels: int,
        stage_blocks: Sequence[int],
        spatial_strides: Sequence[int],
        temporal_strides: Sequence[int],
        inflate: Sequence[int],
        conv1_stride_s: int = 2,
        pool1_stride_s: int = 2,
        lateral_inv: bool = False,
        lateral_infl: int = 2,
        lateral_activate: Sequence[int] = (1, 1, 1, 1),
        speed_ratio: int = 4,
        channel_ratio: int = 4,
        fusion_kernel: int = 7,
    ) -> None:
        super().__init__()
        num_stages = len(stage_blocks)
        if not len(spatial_strides) == len(temporal_strides) == len(inflate) == len(lateral_activate) == num_stages:
            raise ValueError("stage_blocks, strides, inflate and lateral_activate need one entry per stage")
        if lateral_activate[0]:
            raise ValueError("a lateral connection into the stem (lateral_activate[0]) is not supported")
        self.base_channels = base_channels

        # the stem: a 1x7x7 convolution and a 1x3x3 max-pool, neither strided in time (both pathways keep T)
        self.conv1 = ConvBNAct(
            in_channels, base_channels, (1, 7, 7), stride=(1, conv1_stride_s, conv1_stride_s), padding=(0, 3, 3)
        )
        self.maxpool = nn.MaxPool3d((1, 3, 3), (1, pool1_stride_s, pool1_stride_s), (0, 1, 1))

        expansion = Bottleneck3d.expansion
        inplanes = base_channels
        for i, blocks in enumerate(stage_blocks):
            planes = base_channels * 2**i
            # channels the sibling pathway's lateral conv adds in front of this stage
            extra = 0
            if lateral_activate[i]:
                extra = (
                    inplanes * channel_ratio // lateral_infl
                    if lateral_inv
                    else inplanes * lateral_infl // channel_ratio
                )
            layer = make_res_layer(
                inplanes + extra, planes, blocks, spatial_strides[i], temporal_strides[i], bool(inflate[i])
            )
            self.add_module(f"layer{i + 1}", layer)
            inplanes = planes * expansion

            if i != num_stages - 1 and lateral_activate[i + 1]:
                pad = ((fusion_kernel - 1) // 2, 0, 0)
                if lateral_inv:
                    module: nn.Module = DeConvBNAct(
                        inplanes * channel_ratio,
                        inplanes * channel_ratio // lateral_infl,
                        (fusion_kernel, 1, 1),
                        (speed_ratio, 1, 1),
                        pad,
                    )
                else:
                    module = ConvBNAct(
                        inplanes // channel_ratio,
                        inplanes * lateral_infl // channel_ratio,
                        (fusion_kernel, 1, 1),
                        (speed_ratio, 1, 1),
                        pad,
                        activate=False,
                        norm=False,
                    )
                name = f"layer{i + 1}_lateral"
                self.add_module(name, module)
        self.out_channels = inplanes

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.conv1(x))
