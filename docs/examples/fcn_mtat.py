"""Won et al.'s FCN tagger (Choi et al. 2016's "FCN-5"), trained on MagnaTagATune's top-50 tags, as published in
minzwon/sota-music-tagging-models (MIT licence): the network from its mel-dB input on, for Aurascope's "your own
model" route. The published checkpoint opens as it is, ``spec.*`` front-end tensors included::

    aurascope info docs.examples.fcn_mtat:build --weights best_model.pth --front-end docs/examples/fcn_mtat.json

The spectrogram itself (torchaudio's ``MelSpectrogram`` then ``AmplitudeToDB``) is the sidecar's front end, so
Aurascope computes it, keeps its phase, and maps deconvolved maps back to linear bins. The checkpoint's stored
filterbank (``spec.mel_scale.fb``) and window (``spec.spectrogram.window``) are checked against that front end
when the weights load, and refused if they differ.

Module names follow the upstream ``model.py`` so that the state-dict keys match: ``spec_bn``, ``layer1`` ..
``layer5`` (each ``conv``, ``bn``, ReLU, max-pool) and ``dense``.
"""

from __future__ import annotations

import torch
from torch import nn

# (mel, time) pools of layer1..layer5: 96 bands -> 1, and 1813 frames (29.0 s at 16 kHz, hop 256) -> 1
POOLS = ((2, 4), (2, 4), (2, 4), (3, 5), (4, 4))
CHANNELS = (1, 64, 128, 128, 128, 64)


class Conv2dBlock(nn.Module):
    """3x3 conv (padding 1) -> batch-norm -> ReLU -> max-pool; upstream's ``Conv_2d``."""

    def __init__(self, in_channels: int, out_channels: int, pool: tuple[int, int]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.mp = nn.MaxPool2d(pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mp(self.relu(self.bn(self.conv(x))))


class FCN(nn.Module):
    """``[shape=(batch, 1, 96, frames)]`` mel-dB -> 50 tag probabilities; the head needs 1813 frames."""

    def __init__(self, n_tags: int = 50) -> None:
        super().__init__()
        self.spec_bn = nn.BatchNorm2d(1)  # one gain and offset on the whole input, fixed after training
        for i, pool in enumerate(POOLS):
            setattr(self, f"layer{i + 1}", Conv2dBlock(CHANNELS[i], CHANNELS[i + 1], pool))
        self.dropout = nn.Dropout(0.5)
        self.dense = nn.Linear(CHANNELS[-1], n_tags)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.spec_bn(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.layer5(x)
        x = x.flatten(1)
        x = self.dropout(x)
        return torch.sigmoid(self.dense(x))


def build() -> FCN:
    return FCN()
