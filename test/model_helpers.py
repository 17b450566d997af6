# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Helpers for model tests: camera-like images and random weights whose class scores are worth comparing."""

import re

import torch
import torch.nn.functional as F

SEED = 1234


def camera_like_image(size, seed: int = 0) -> torch.Tensor:
    """Smooth structures plus sensor noise, in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, size[0] // 16, size[1] // 16, generator=generator)
    image = F.interpolate(coarse, size=size, mode='bilinear', align_corners=False)
    return (image + 0.05 * torch.randn(1, 3, *size, generator=generator)).clamp(0, 1)


CLASS_LAYER = re.compile(r'(cls_logits|cls_score|classification_head\.module_list\.\d+\.1)$')


def spread_class_scores(model: torch.nn.Module, forward) -> None:
    """Redraw the last classification layers so that their logits spread with a standard deviation of about 1.

    Random backbones give class logits that are all alike (every score 0.125 for SSDlite) or saturated
    (every score 1.0 for RetinaNet); either way a comparison of scores would say little.
    """
    layers = {name: module for name, module in model.named_modules() if CLASS_LAYER.search(name)}
    assert layers, 'no classification layer found'
    input_rms = {}
    hooks = [
        layer.register_forward_hook(lambda m, i, o, n=n: input_rms.__setitem__(n, float(i[0].pow(2).mean().sqrt())))
        for n, layer in layers.items()
    ]
    with torch.no_grad():
        forward()
        for handle in hooks:
            handle.remove()
        generator = torch.Generator().manual_seed(SEED)
        assert input_rms, 'no classification layer ran'
        for name, layer in layers.items():
            if name not in input_rms:  # not on the path of `forward` (an exit head, say)
                continue
            fan_in = layer.weight[0].numel()
            std = 1.0 / (input_rms[name] * fan_in**0.5 + 1e-12)
            layer.weight.copy_(std * torch.randn(layer.weight.shape, generator=generator))
            layer.bias.zero_()
