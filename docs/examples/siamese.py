"""A Siamese network with two inputs, for docs/modules.md: one tower, called on both inputs."""
import torch
import torch.nn as nn


class Siamese(nn.Module):
    def __init__(self):
        super().__init__()
        self.tower = nn.Sequential(nn.Conv2d(1, 8, 10), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 7),
                                   nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(16, 1)

    def forward(self, left, right):
        return torch.sigmoid(self.head((self.tower(left) - self.tower(right)).abs()))
