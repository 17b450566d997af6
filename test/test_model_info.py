# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""`splitee model info` and `splitee model export`: the numbers in the table are the model's."""

import numpy as np
import onnx
import torch
import yaml
from torch import nn

from splitee_ros.cli import main
from splitee_ros.model.config import ModelConfig, load_model_config
from splitee_ros.model.families import build_detector
from splitee_ros.model.info import count_macs, split_table


def test_macs_of_known_layers():
    conv = nn.Conv2d(8, 16, 3, stride=2, padding=1)
    assert count_macs(conv, torch.zeros(1, 8, 32, 32)) == 16 * 16 * 16 * 8 * 9
    grouped = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
    assert count_macs(grouped, torch.zeros(1, 8, 4, 4)) == 8 * 4 * 4 * 9 + 10 * 128


def test_head_and_tail_partition_the_model():
    """Head, exits and tail together are the whole model, in parameters and in MACs, at every split."""
    config = ModelConfig.from_dict({
        'family': 'splitee_demo', 'bottlenecks': {'stage2': {'code_channels': 8}}, 'exits': {'*': {'width': 16}},
    })  # fmt: skip
    detector = build_detector(config)
    total_params = sum(p.numel() for p in detector.parameters())
    image = torch.zeros(1, 3, *detector.input_size)
    unsplit_macs = count_macs(detector, image)
    rows = split_table(detector)
    assert [row.exits for row in rows] == [('stem',), ('stem', 'stage1'), ('stem', 'stage1', 'stage2')]
    for row in rows:
        channels, height, width = detector.split_points[row.split].shape
        assert row.shape == (channels, height, width)
        assert row.code_bytes(4) == 4 * int(np.prod(row.code_shape))
        if row.split == 'stage2':  # the only bottleneck, and every exit: the whole model
            assert row.code_shape == (8, height // 2, width // 2)
            assert row.head_params + row.exit_params + row.tail_params == total_params
        else:
            assert row.code_shape == row.shape
        head_tail_macs = row.head_macs + row.tail_macs
        assert head_tail_macs == unsplit_macs if row.split != 'stage2' else head_tail_macs > unsplit_macs
        assert row.exit_macs > 0


def test_info_command_prints_every_split_of_a_package(tmp_path, capsys):
    package = tmp_path / 'package'
    package.mkdir()
    model = {
        'family': 'splitee_demo',
        'bottlenecks': {'stage2': {'code_channels': 8, 'stride': 2}},
        'exits': {'*': {'width': 16}},
    }
    (package / 'manifest.yaml').write_text(yaml.safe_dump({'model': model}))
    assert load_model_config(package).bottlenecks['stage2'].code_channels == 8
    assert main(['model', 'info', str(package)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split('|')[1].strip(): line for line in lines if line.startswith('| ') and 'split' not in line}
    assert set(rows) == {'stem', 'stage1', 'stage2'}
    # the bottleneck shrinks what crosses the link at stage2: 8 channels at half resolution, as int8 bytes
    assert '| 8x30x40 |' in rows['stage2']
    assert '| 9600 |' in rows['stage2']
    assert 'stem, stage1, stage2' in rows['stage2']
    assert 'the whole model unsplit (no codec, no exit)' in lines[0] and lines[0].endswith(' MMACs')


def test_a_training_config_resolves_to_its_model():
    config = load_model_config('config/train/demo_cpu_lean_both.yaml')
    assert config.bottlenecks['stage1'].decoder_upsample == 'pixel_shuffle'
    assert config.bottlenecks['stage2'].encoder_blocks == 0 and config.input_size == (480, 640)


def test_export_command_writes_named_graphs(tmp_path, capsys):
    assert main(['model', 'export', 'splitee_demo', '--out', str(tmp_path)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    head = onnx.load(str(tmp_path / 'stage1.head.onnx'))
    tail = onnx.load(str(tmp_path / 'stage1.tail.onnx'))
    assert [i.name for i in head.graph.input] == ['image']
    assert [o.name for o in head.graph.output] == ['code']
    assert [i.name for i in tail.graph.input] == ['code']
    assert [o.name for o in tail.graph.output] == ['cls_logits', 'bbox_regression']
    batch, *dims = tail.graph.input[0].type.tensor_type.shape.dim
    assert batch.dim_param == 'batch' and [d.dim_value for d in dims] == [24, 120, 160]  # batches of any size
