"""User-style networks for the traced route. Every constructor is seeded: same weights on every call."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _randomise_batchnorm(bn: nn.BatchNorm2d, gen: torch.Generator) -> None:
    """Running statistics and affine parameters far from identity, so folding them matters."""
    n = bn.num_features
    bn.weight.data = 0.5 + torch.rand(n, generator=gen)
    bn.bias.data = 0.1 * torch.randn(n, generator=gen)
    bn.running_mean = 0.1 * torch.randn(n, generator=gen)
    bn.running_var = 0.5 + torch.rand(n, generator=gen)


class FunctionalChoi(nn.Module):
    """Choi's vggnet on 4 layers, each ReLU written differently, as in real research code:
    ``F.relu``, ``torch.relu_`` (result ignored), ``x.relu_()`` (result ignored), ``nn.ReLU(inplace=True)``.
    Batch-norm after every conv; a global max pool and a linear head."""

    def __init__(self, n_maps: int = 6, n_classes: int = 3, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.convs = nn.ModuleList(nn.Conv2d(1 if i == 0 else n_maps, n_maps, 3, padding=1) for i in range(4))
        self.bns = nn.ModuleList(nn.BatchNorm2d(n_maps) for _ in range(4))
        self.act = nn.ReLU(inplace=True)
        self.fc = nn.Linear(n_maps, n_classes)
        for conv in self.convs:
            conv.weight.data = torch.randn(conv.weight.shape, generator=gen) * (2.0 / (9 * conv.in_channels)) ** 0.5
            conv.bias.data = 0.01 * torch.randn(conv.out_channels, generator=gen)
        for bn in self.bns:
            _randomise_batchnorm(bn, gen)
        self.fc.weight.data = torch.randn(self.fc.weight.shape, generator=gen) / n_maps**0.5
        self.fc.bias.data = 0.01 * torch.randn(n_classes, generator=gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bns[0](self.convs[0](x)))
        x = F.max_pool2d(x, 2)
        x = self.bns[1](self.convs[1](x))
        torch.relu_(x)
        x = F.max_pool2d(x, 2)
        x = self.bns[2](self.convs[2](x))
        x.relu_()
        x = F.max_pool2d(x, 2)
        x = self.act(self.bns[3](self.convs[3](x)))
        x = F.max_pool2d(x, 2)
        return self.fc(x.amax(dim=(2, 3)))


def functional_choi() -> FunctionalChoi:
    return FunctionalChoi()


class ResidualNet(nn.Module):
    """A stem and one ResNet basic block (conv-bn-relu-conv-bn, plus the skip, then relu)."""

    def __init__(self, n_maps: int = 4, seed: int = 1) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.stem = nn.Conv2d(1, n_maps, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv1 = nn.Conv2d(n_maps, n_maps, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(n_maps)
        self.conv2 = nn.Conv2d(n_maps, n_maps, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(n_maps)
        self.fc = nn.Linear(n_maps, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.stem(x)))
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = F.relu(out + x)
        return self.fc(out.mean(dim=(2, 3)))


def residual_net() -> ResidualNet:
    return ResidualNet()


class GeluNet(nn.Module):
    """Two conv-GELU-pool layers (transformer-era habits in a CNN)."""

    def __init__(self, seed: int = 2) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.act = nn.GELU()
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.act(self.conv1(x)), 2)
        return F.max_pool2d(self.act(self.conv2(x)), 2)


class ControlFlowNet(nn.Module):
    """Branches on the input's values: torch.fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.mean() > 0.5:
            x = x * 0.5
        return F.relu(self.conv(x))


class TinyTwoLayer(nn.Module):
    """The hand-computed net of tests/core/test_methods.py: 2x2 conv, ReLU, 2x2 conv, ReLU, 2x2 max-pool."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 1, 2, bias=False)
        self.b = nn.Conv2d(1, 1, 2, bias=False)
        self.a.weight.data = torch.tensor([[[[1.0, 0.0], [0.0, -1.0]]]])
        self.b.weight.data = torch.tensor([[[[1.0, -1.0], [-1.0, 2.0]]]])
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(F.relu(self.b(F.relu(self.a(x)))))


class WholeModel(nn.Module):
    """An Aurascope Model (body and global-pool / linear head) as a plain module, for ONNX export."""

    def __init__(self, model) -> None:
        from app.core.architecture import GlobalPool, Linear
        from app.core.model import to_torch_module

        super().__init__()
        self.body = to_torch_module(model).cpu()
        pool, linear = model.spec.head
        assert isinstance(pool, GlobalPool) and pool.mode == "max" and isinstance(linear, Linear)
        self.fc = nn.Linear(linear.in_features, linear.out_features)
        self.fc.weight.data = model.weights["head.1.weight"].clone().cpu()
        self.fc.bias.data = model.weights["head.1.bias"].clone().cpu()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x).amax(dim=(2, 3))
        return self.fc(h.view(h.size(0), -1))


def broken_builder() -> nn.Module:
    """A user's builder that fails before any network exists (a missing configuration, say)."""
    raise ValueError("weights folder not configured")
