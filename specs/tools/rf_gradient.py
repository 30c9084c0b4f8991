#!/usr/bin/env python
"""Measure receptive fields of torchvision models from input gradients, to check `cnncalc analyze`.

The receptive field of a unit is the set of input pixels its value depends on. Make every weight
positive, every bias zero, BatchNorm the identity and swap max pooling for average pooling of the
same geometry (a max pool's gradient reaches one pixel only); then the gradient of the centre unit
of the last feature map with respect to an all-ones input is non-zero exactly on its receptive field.
The input must be larger than the field, so the padding does not clip it.

    .venv/bin/python specs/tools/rf_gradient.py              # all (a couple of minutes on 2 cores)
    .venv/bin/python specs/tools/rf_gradient.py resnet18

Each line: model, measured RF, cnncalc's RF for the same layer of specs/<model>.yaml.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn


def _prepare(model: nn.Module) -> nn.Module:
    for mod in list(model.modules()):
        for name, child in list(mod.named_children()):
            if isinstance(child, nn.MaxPool2d):
                setattr(mod, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding,
                                                ceil_mode=child.ceil_mode))
    for mod in model.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            nn.init.constant_(mod.weight, 0.01)
            if mod.bias is not None:
                nn.init.zeros_(mod.bias)
        elif isinstance(mod, nn.BatchNorm2d):
            nn.init.ones_(mod.weight)
            nn.init.zeros_(mod.bias)
    return model.eval().double()


def _resnet(m, x):
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    return m.layer4(m.layer3(m.layer2(m.layer1(x))))


def _googlenet(m, x):
    for k in ["conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3",
              "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4",
              "inception5a", "inception5b"]:
        x = getattr(m, k)(x)
    return x


def _features(m, x):
    return m.features(x)


def _squeezenet(m, x):
    return m.classifier[2](m.classifier[1](m.features(x)))


def _shufflenet(m, x):
    return m.conv5(m.stage4(m.stage3(m.stage2(m.maxpool(m.conv1(x))))))


# model -> (torchvision builder kwargs, trunk up to the last feature map, input size, spec layer)
CASES = {
    "alexnet": ({}, _features, 384, "features.12"),
    "vgg16": ({}, _features, 384, "features.30"),
    "resnet18": ({}, _resnet, 512, "layer4.1.relu_1"),
    "resnet50": ({}, _resnet, 512, "layer4.2.relu_2"),
    "googlenet": ({"aux_logits": False, "init_weights": False}, _googlenet, 512, "inception5b.cat"),
    "mobilenet_v2": ({}, _features, 512, "features.18.2"),
    "squeezenet1_1": ({}, _squeezenet, 384, "classifier.2"),
    "shufflenet_v2_x1_0": ({}, _shufflenet, 640, "conv5.2"),
}


def measure(name: str) -> int:
    import torchvision

    kwargs, trunk, size, _ = CASES[name]
    model = _prepare(torchvision.models.get_model(name, weights=None, **kwargs))
    x = torch.ones(1, 3, size, size, dtype=torch.float64, requires_grad=True)
    y = trunk(model, x)
    h, w = y.shape[2:]
    y[0, :, h // 2, w // 2].sum().backward()
    rows = (x.grad[0].abs().sum(0).sum(1) > 0).nonzero()
    assert rows.min() > 0 and rows.max() < size - 1, "input too small: the field reaches the border"
    return int(rows.max() - rows.min() + 1)


def cnncalc_rf(name: str) -> str:
    try:
        from cnncalc.api import analyze_path
    except ImportError:
        return "-"
    report = analyze_path(Path(__file__).resolve().parents[1] / f"{name}.yaml")
    layer = next(l for l in report["layers"] if l["name"] == CASES[name][3])
    return str(layer["rf"]["size"][0])


def main(argv: list[str]) -> int:
    names = argv or list(CASES)
    print(f"{'model':<20} {'measured':>8} {'cnncalc':>8}")
    status = 0
    for name in names:
        got, ours = measure(name), cnncalc_rf(name)
        print(f"{name:<20} {got:>8} {ours:>8}{'' if ours in ('-', str(got)) else '  MISMATCH'}", flush=True)
        status |= ours not in ("-", str(got))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
