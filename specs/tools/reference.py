#!/usr/bin/env python
"""Reference figures for the zoo specs in ``specs/``, measured on real PyTorch models.

For every spec with a torchvision counterpart this builds the model (``weights=None``: nothing is
downloaded), and prints

* ``params``: ``sum(p.numel() for p in model.parameters())``
* ``macs``: convolution + linear multiply-accumulates at batch 1, measured with
  ``torch.utils.flop_counter.FlopCounterMode`` (its forward total counts 2 FLOPs per
  multiply-accumulate and only conv / matmul, so total // 2 is exactly the conv+linear MACs:
  the figure torchvision's docs call "GFLOPS")
* the output shape (batch excluded)
* torchvision's published ``num_params`` and ``_ops`` (GFLOPS, 3 decimals) for comparison.

A second table does the same for the zoo specs without a torchvision counterpart (LeNet, LeNet-5,
NiN, MobileNet v1, SE-ResNet-50, U-Net, the DeepLab ASPP net, Siamese, Triplet, the deformable
net, M5 on audio, C3D): their torch models are written out below, module for module, with the same
module names as the specs (tests/test_zoo.py compares them layer by layer).

Usage::

    .venv/bin/python specs/tools/reference.py                 # all models (about 80 s on 2 cores)
    .venv/bin/python specs/tools/reference.py resnet50 c3d    # some of them
    .venv/bin/python specs/tools/reference.py --modules resnet18   # per-module params too
    .venv/bin/python specs/tools/reference.py --meta          # build and count on the meta device:
                                                              # same figures, no compute (seconds)
"""
from __future__ import annotations

import sys

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

# spec stem -> (torchvision builder, extra kwargs, input shape without batch)
TORCHVISION = {
    "alexnet": ("alexnet", {}, (3, 224, 224)),
    "vgg11": ("vgg11", {}, (3, 224, 224)),
    "vgg13": ("vgg13", {}, (3, 224, 224)),
    "vgg16": ("vgg16", {}, (3, 224, 224)),
    "vgg19": ("vgg19", {}, (3, 224, 224)),
    "vgg11_bn": ("vgg11_bn", {}, (3, 224, 224)),
    "vgg13_bn": ("vgg13_bn", {}, (3, 224, 224)),
    "vgg16_bn": ("vgg16_bn", {}, (3, 224, 224)),
    "vgg19_bn": ("vgg19_bn", {}, (3, 224, 224)),
    "googlenet": ("googlenet", {"aux_logits": False, "init_weights": False}, (3, 224, 224)),
    "inception_v3": ("inception_v3", {"aux_logits": False, "init_weights": False}, (3, 299, 299)),
    "resnet18": ("resnet18", {}, (3, 224, 224)),
    "resnet34": ("resnet34", {}, (3, 224, 224)),
    "resnet50": ("resnet50", {}, (3, 224, 224)),
    "resnet101": ("resnet101", {}, (3, 224, 224)),
    "resnet152": ("resnet152", {}, (3, 224, 224)),
    "resnext50_32x4d": ("resnext50_32x4d", {}, (3, 224, 224)),
    "wide_resnet50_2": ("wide_resnet50_2", {}, (3, 224, 224)),
    "densenet121": ("densenet121", {}, (3, 224, 224)),
    "squeezenet1_0": ("squeezenet1_0", {}, (3, 224, 224)),
    "squeezenet1_1": ("squeezenet1_1", {}, (3, 224, 224)),
    "mobilenet_v2": ("mobilenet_v2", {}, (3, 224, 224)),
    "mobilenet_v3_large": ("mobilenet_v3_large", {}, (3, 224, 224)),
    "mobilenet_v3_small": ("mobilenet_v3_small", {}, (3, 224, 224)),
    "shufflenet_v2_x1_0": ("shufflenet_v2_x1_0", {}, (3, 224, 224)),
    "efficientnet_b0": ("efficientnet_b0", {}, (3, 224, 224)),
}


# Differences from torchvision's metadata that are understood, and why.
KNOWN_DIFFERENCES = {
    "inception_v3": "num_params includes the training-only AuxLogits head (3,326,696), left out here",
}


def build_torchvision(stem: str, device: str = "cpu") -> tuple[nn.Module, tuple[int, ...]]:
    import torchvision

    builder, kwargs, shape = TORCHVISION[stem]
    with torch.device(device):
        model = torchvision.models.get_model(builder, weights=None, **kwargs)
    return model.eval(), shape


def published(stem: str) -> tuple[int | None, float | None]:
    """torchvision's metadata of the default weights: (num_params, GFLOPS)."""
    from torchvision.models import get_model_weights

    builder = TORCHVISION[stem][0]
    meta = get_model_weights(builder).DEFAULT.meta
    return meta.get("num_params"), meta.get("_ops")


# --------------------------------------------------------------------------------------------
# Hand-written torch models for the specs without a torchvision counterpart. Module names
# follow the specs' node names, so `--modules` lines up with `cnncalc analyze`.
# --------------------------------------------------------------------------------------------


def lenet() -> nn.Module:  # d2l.ai LeNet (sigmoid + average pooling), 1x28x28
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, 2),
        nn.Conv2d(6, 16, 5), nn.Sigmoid(), nn.AvgPool2d(2, 2), nn.Flatten(),
        nn.Linear(400, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, 10),
    )


def lenet5() -> nn.Module:  # LeCun et al. 1998, 1x32x32, C3 as a dense 6->16 conv
    from collections import OrderedDict

    return nn.Sequential(OrderedDict([
        ("C1", nn.Conv2d(1, 6, 5)), ("act1", nn.Tanh()), ("S2", nn.AvgPool2d(2, 2)),
        ("C3", nn.Conv2d(6, 16, 5)), ("act3", nn.Tanh()), ("S4", nn.AvgPool2d(2, 2)),
        ("C5", nn.Conv2d(16, 120, 5)), ("act5", nn.Tanh()), ("flatten", nn.Flatten()),
        ("F6", nn.Linear(120, 84)), ("act6", nn.Tanh()), ("output", nn.Linear(84, 10)),
    ]))


def nin() -> nn.Module:  # d2l.ai NiN, 1x224x224, 10 classes
    def block(cin, cout, k, s, p):
        return nn.Sequential(
            nn.Conv2d(cin, cout, k, s, p), nn.ReLU(),
            nn.Conv2d(cout, cout, 1), nn.ReLU(), nn.Conv2d(cout, cout, 1), nn.ReLU(),
        )

    return nn.Sequential(
        block(1, 96, 11, 4, 0), nn.MaxPool2d(3, 2),
        block(96, 256, 5, 1, 2), nn.MaxPool2d(3, 2),
        block(256, 384, 3, 1, 1), nn.MaxPool2d(3, 2), nn.Dropout(0.5),
        block(384, 10, 3, 1, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )


def mobilenet_v1(width: float = 1.0) -> nn.Module:  # Howard et al. 2017, Table 1, 224x224
    from collections import OrderedDict

    class DepthwiseSeparable(nn.Sequential):
        def __init__(self, cin, cout, stride=1):
            super().__init__(OrderedDict([
                ("dw", nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False)),
                ("dw_bn", nn.BatchNorm2d(cin)), ("dw_relu", nn.ReLU()),
                ("pw", nn.Conv2d(cin, cout, 1, bias=False)),
                ("pw_bn", nn.BatchNorm2d(cout)), ("pw_relu", nn.ReLU()),
            ]))

    def stage(cin, cout, n, stride):
        return nn.Sequential(*[DepthwiseSeparable(cin if i == 0 else cout, cout, stride if i == 0 else 1)
                               for i in range(n)])

    c = lambda v: int(v * width)  # noqa: E731
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, c(32), 3, 2, 1, bias=False)), ("bn1", nn.BatchNorm2d(c(32))), ("relu", nn.ReLU()),
        ("stage1", stage(c(32), c(64), 1, 1)),
        ("stage2", stage(c(64), c(128), 2, 2)),
        ("stage3", stage(c(128), c(256), 2, 2)),
        ("stage4", stage(c(256), c(512), 6, 2)),
        ("stage5", stage(c(512), c(1024), 2, 2)),
        ("avgpool", nn.AvgPool2d(7)), ("flatten", nn.Flatten()),
        ("fc", nn.Linear(c(1024), 1000)),
    ]))


class SEModule(nn.Module):
    def __init__(self, c: int, r: int = 16):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, c // r, 1)
        self.relu = nn.ReLU()
        self.fc2 = nn.Conv2d(c // r, c, 1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        return x * self.sigmoid(self.fc2(self.relu(self.fc1(self.avgpool(x)))))


def se_resnet50() -> nn.Module:  # Hu et al. 2018: ResNet-50 + SE (r=16) before each residual add
    import torchvision
    from torchvision.models.resnet import Bottleneck

    class SEBottleneck(Bottleneck):
        def __init__(self, inplanes, planes, *args, **kwargs):
            super().__init__(inplanes, planes, *args, **kwargs)
            self.se = SEModule(planes * self.expansion, 16)

        def forward(self, x):
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.se(self.bn3(self.conv3(out)))
            if self.downsample is not None:
                identity = self.downsample(x)
            return self.relu(out + identity)

    return torchvision.models.ResNet(SEBottleneck, [3, 4, 6, 3])


# --- non-classifiers and other-dimensional nets -------------------------------------------


class DoubleConv(nn.Sequential):  # (3×3 conv, BN, ReLU) × 2
    def __init__(self, cin, c):
        super().__init__(
            nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
        )


class UNet(nn.Module):  # Ronneberger et al. 2015, small: base 16 channels, 4 levels, padded convs
    class Up(nn.Module):
        def __init__(self, cin, c):
            super().__init__()
            self.up = nn.ConvTranspose2d(cin, c, 2, stride=2)
            self.conv = DoubleConv(2 * c, c)

        def forward(self, x, skip):
            return self.conv(torch.cat([skip, self.up(x)], 1))

    def __init__(self, cin=1, classes=2, base=16):
        super().__init__()
        b = base
        self.inc = DoubleConv(cin, b)
        self.down1 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(b, 2 * b))
        self.down2 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(2 * b, 4 * b))
        self.down3 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(4 * b, 8 * b))
        self.down4 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(8 * b, 16 * b))
        self.up1 = self.Up(16 * b, 8 * b)
        self.up2 = self.Up(8 * b, 4 * b)
        self.up3 = self.Up(4 * b, 2 * b)
        self.up4 = self.Up(2 * b, b)
        self.outc = nn.Conv2d(b, classes, 1)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)


class DeepLabASPP(nn.Module):  # DeepLab v3-style: dilated backbone (output stride 8) + ASPP
    @staticmethod
    def cbr(cin, c, k=3, s=1, d=1):
        return nn.Sequential(nn.Conv2d(cin, c, k, s, padding=d * (k // 2), dilation=d, bias=False),
                             nn.BatchNorm2d(c), nn.ReLU())

    class ASPP(nn.Module):
        def __init__(self, cin, c, rates, size):
            super().__init__()
            cbr = DeepLabASPP.cbr
            self.convs = nn.ModuleDict({
                "b1x1": cbr(cin, c, k=1),
                "atrous1": cbr(cin, c, d=rates[0]),
                "atrous2": cbr(cin, c, d=rates[1]),
                "atrous3": cbr(cin, c, d=rates[2]),
                "pool": nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, c, 1, bias=False),
                                      nn.BatchNorm2d(c), nn.ReLU(),
                                      nn.Upsample(size=size, mode="bilinear", align_corners=False)),
            })
            self.project = nn.Sequential(nn.Conv2d(5 * c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                                         nn.Dropout(0.5))

        def forward(self, x):
            return self.project(torch.cat([m(x) for m in self.convs.values()], 1))

    def __init__(self, classes=21, c=256, rates=(6, 12, 18), size=128):
        super().__init__()
        cbr = self.cbr
        self.backbone = nn.Sequential(cbr(3, 32, s=2), cbr(32, 64, s=2), cbr(64, 128, s=2),
                                      cbr(128, 128, d=2), cbr(128, 128, d=4))
        self.aspp = self.ASPP(128, c, rates, (size // 8, size // 8))
        self.classifier = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                                        nn.Conv2d(c, classes, 1))
        self.upsample = nn.Upsample(scale_factor=8, mode="bilinear", align_corners=False)

    def forward(self, x):
        return self.upsample(self.classifier(self.aspp(self.backbone(x))))


class Siamese(nn.Module):  # Koch, Zemel & Salakhutdinov 2015, Omniglot 1×105×105 pairs
    def __init__(self):
        super().__init__()
        self.tower = nn.Sequential(
            nn.Conv2d(1, 64, 10), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 7), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(128, 128, 4), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(128, 256, 4), nn.ReLU(), nn.Flatten(),
            nn.Linear(256 * 6 * 6, 4096), nn.Sigmoid(),
        )
        self.head = nn.Linear(4096, 1)

    def forward(self, left, right):
        return torch.sigmoid(self.head(torch.abs(self.tower(left) - self.tower(right))))


class Triplet(nn.Module):  # one embedding net applied to anchor, positive and negative (FaceNet-style)
    def __init__(self, dim=64):
        super().__init__()
        self.embed = nn.Sequential(
            nn.Conv2d(3, 32, 5, padding=2, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, dim),
        )

    def forward(self, anchor, positive, negative):
        return self.embed(anchor), self.embed(positive), self.embed(negative)


class Deformable(nn.Module):  # a small classifier with one deformable 3×3 conv (Dai et al. 2017)
    def __init__(self, classes=10):
        from torchvision.ops import DeformConv2d

        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.offset = nn.Conv2d(64, 2 * 3 * 3, 3, padding=1)
        self.deform = DeformConv2d(64, 64, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(64)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        x = torch.relu(self.bn3(self.deform(x, self.offset(x))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class M5(nn.Module):  # Dai et al. 2017, "Very deep CNNs for raw waveforms", M5; 1 s of 16 kHz audio
    def __init__(self, classes=10):
        super().__init__()
        self.conv1, self.bn1, self.pool1 = nn.Conv1d(1, 128, 80, stride=4), nn.BatchNorm1d(128), nn.MaxPool1d(4)
        self.conv2, self.bn2, self.pool2 = nn.Conv1d(128, 128, 3), nn.BatchNorm1d(128), nn.MaxPool1d(4)
        self.conv3, self.bn3, self.pool3 = nn.Conv1d(128, 256, 3), nn.BatchNorm1d(256), nn.MaxPool1d(4)
        self.conv4, self.bn4, self.pool4 = nn.Conv1d(256, 512, 3), nn.BatchNorm1d(512), nn.MaxPool1d(4)
        self.avgpool = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        for i in range(1, 5):
            x = getattr(self, f"pool{i}")(torch.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class C3D(nn.Module):  # Tran et al. 2015, C3D; width=64, fc=4096, classes=487 is the paper's network
    def __init__(self, width=16, fc=512, classes=101):
        super().__init__()
        w = width
        conv = lambda cin, c: nn.Conv3d(cin, c, 3, padding=1)  # noqa: E731
        self.conv1, self.pool1 = conv(3, w), nn.MaxPool3d((1, 2, 2), (1, 2, 2))
        self.conv2, self.pool2 = conv(w, 2 * w), nn.MaxPool3d(2, 2)
        self.conv3a, self.conv3b, self.pool3 = conv(2 * w, 4 * w), conv(4 * w, 4 * w), nn.MaxPool3d(2, 2)
        self.conv4a, self.conv4b, self.pool4 = conv(4 * w, 8 * w), conv(8 * w, 8 * w), nn.MaxPool3d(2, 2)
        self.conv5a, self.conv5b = conv(8 * w, 8 * w), conv(8 * w, 8 * w)
        self.pool5 = nn.MaxPool3d(2, 2, padding=(0, 1, 1))
        self.fc6, self.fc7, self.fc8 = nn.Linear(8 * w * 16, fc), nn.Linear(fc, fc), nn.Linear(fc, classes)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x):
        r = torch.relu
        x = self.pool1(r(self.conv1(x)))
        x = self.pool2(r(self.conv2(x)))
        x = self.pool3(r(self.conv3b(r(self.conv3a(x)))))
        x = self.pool4(r(self.conv4b(r(self.conv4a(x)))))
        x = self.pool5(r(self.conv5b(r(self.conv5a(x)))))
        x = self.dropout(r(self.fc6(torch.flatten(x, 1))))
        x = self.dropout(r(self.fc7(x)))
        return self.fc8(x)


# spec stem -> (torch model builder, input shape without batch, or a tuple of them for several inputs)
CUSTOM = {
    "lenet": (lenet, (1, 28, 28)),
    "lenet5": (lenet5, (1, 32, 32)),
    "nin": (nin, (1, 224, 224)),
    "mobilenet_v1": (mobilenet_v1, (3, 224, 224)),
    "se_resnet50": (se_resnet50, (3, 224, 224)),
    "unet": (UNet, (1, 128, 128)),
    "deeplab_aspp": (DeepLabASPP, (3, 128, 128)),
    "siamese": (Siamese, ((1, 105, 105), (1, 105, 105))),
    "triplet": (Triplet, ((3, 64, 64), (3, 64, 64), (3, 64, 64))),
    "deformable": (Deformable, (3, 64, 64)),
    "audio1d": (M5, (1, 16000)),
    "c3d": (C3D, (3, 16, 112, 112)),
}

# Conv+linear MACs that FlopCounterMode does not see: torchvision's deform_conv2d is a custom op.
# DeformConv2d(64, 64, 3) on a 16×16 output: 64*64*3*3*16*16.
UNCOUNTED_MACS = {"deformable": 64 * 64 * 3 * 3 * 16 * 16}


# --------------------------------------------------------------------------------------------


def measure(model: nn.Module, shape: tuple, device: str = "cpu") -> tuple[int, int, tuple[int, ...]]:
    """(params, conv+linear MACs at batch 1, output shape); `shape` may be a tuple of input shapes."""
    params = sum(p.numel() for p in model.parameters())
    shapes = shape if isinstance(shape[0], tuple) else (shape,)
    xs = [torch.zeros(1, *s, device=device) for s in shapes]
    with torch.no_grad(), FlopCounterMode(display=False) as fcm:
        y = model(*xs)
    if isinstance(y, tuple):  # several outputs: the last one
        y = y[-1]
    flops = fcm.get_total_flops()
    assert flops % 2 == 0
    return params, flops // 2, tuple(y.shape[1:])


def module_params(model: nn.Module) -> dict[str, int]:
    """Params of every leaf module that has parameters, by module path."""
    out = {}
    for name, mod in model.named_modules():
        if next(mod.children(), None) is None:
            n = sum(p.numel() for p in mod.parameters(recurse=False))
            if n:
                out[name] = n
    return out


def main(argv: list[str]) -> int:
    show_modules = "--modules" in argv
    device = "meta" if "--meta" in argv else "cpu"
    names = [a for a in argv if not a.startswith("--")]
    unknown = [n for n in names if n not in TORCHVISION and n not in CUSTOM]
    if unknown:
        print(f"unknown spec(s): {', '.join(unknown)}; known: {', '.join([*TORCHVISION, *CUSTOM])}")
        return 2
    torch.manual_seed(0)
    print(f"{'spec':<20} {'params':>12} {'MACs':>16} {'output':<16} {'tv params':>12} {'tv GFLOPS':>9}  check")
    for stem in TORCHVISION:
        if names and stem not in names:
            continue
        model, shape = build_torchvision(stem, device)
        params, macs, out = measure(model, shape, device)
        pub_p, pub_ops = published(stem)
        checks = []
        if pub_p is not None:
            checks.append("params ok" if pub_p == params else f"params differ ({params - pub_p:+,}: "
                          f"{KNOWN_DIFFERENCES.get(stem, 'unexplained')})")
        if pub_ops is not None:
            checks.append("GFLOPS ok" if round(macs / 1e9, 3) == pub_ops else f"GFLOPS {macs / 1e9:.3f}")
        print(f"{stem:<20} {params:>12,} {macs:>16,} {str(list(out)):<16} {pub_p or 0:>12,} "
              f"{pub_ops or '':>9}  {', '.join(checks)}")
        if show_modules:
            for k, v in module_params(model).items():
                print(f"    {k:<40} {v:>12,}")
    print()
    print("hand-written torch models (no torchvision counterpart):")
    for stem, (fn, shape) in CUSTOM.items():
        if names and stem not in names:
            continue
        with torch.device(device):
            model = fn().eval()
        params, macs, out = measure(model, shape, device)
        note = ""
        if stem in UNCOUNTED_MACS:
            macs += UNCOUNTED_MACS[stem]
            note = f"  (includes {UNCOUNTED_MACS[stem]:,} DeformConv2d MACs FlopCounterMode does not count)"
        print(f"{stem:<20} {params:>12,} {macs:>16,} {str(list(out)):<16}{note}")
        if show_modules:
            for k, v in module_params(model).items():
                print(f"    {k:<40} {v:>12,}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
