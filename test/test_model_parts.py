# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Bottlenecks, exit heads, ONNX export, weights and configuration of splittable detectors."""

import functools

import numpy as np
import onnxruntime
import pytest
import torch
import yaml

from splitee_ros.model.config import BottleneckConfig, ExitConfig, ModelConfig
from splitee_ros.model.export import export_split
from splitee_ros.model.families import FAMILIES, TORCHVISION_FAMILIES, build_detector
from splitee_ros.model.weights import WeightsError

BOTTLENECK = BottleneckConfig(code_channels=12, stride=2)


@functools.cache
def full_detector(family: str):
    """A family with a bottleneck and an exit at every split point."""
    torch.manual_seed(3)
    config = ModelConfig(family=family, bottlenecks={'*': BOTTLENECK}, exits={'*': ExitConfig(width=32)})
    return build_detector(config)


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_every_split_has_a_bottleneck_and_an_exit(family):
    model = full_detector(family)
    image = torch.rand(1, 3, *model.input_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        unsplit = model(image)
    order = list(model.split_points)
    for position, (split, point) in enumerate(model.split_points.items()):
        assert split in model.bottlenecks and split in model.exits
        with torch.no_grad():
            head_outputs = model.head(split)(image)
            tail_outputs = model.tail(split)(head_outputs['code'])
        _, height, width = point.shape
        assert head_outputs['code'].shape == (1, BOTTLENECK.code_channels, height // 2, width // 2)
        # the exits at or before the split travel with the head
        exits_in_head = {key.split('.')[1] for key in head_outputs if key.startswith('exit.')}
        assert exits_in_head == set(order[: position + 1])
        for name in exits_in_head:
            confidence = head_outputs[f'exit.{name}.confidence']
            assert confidence.shape == (1,) and 0 <= float(confidence) <= 1
            numpy_outputs = {key: value.numpy() for key, value in head_outputs.items()}
            detections = model.detections(numpy_outputs, frame_size=(480, 640), exit_name=name)
            assert len(detections) == 1 and detections[0].boxes.shape[1] == 4
        # the decoder restores what the tail expects
        assert {key: value.shape for key, value in tail_outputs.items() if model.output_kind != 'boxes'} == {
            key: value.shape for key, value in unsplit.items() if model.output_kind != 'boxes'
        }


def onnx_outputs(path, name, value):
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, {name: value.numpy()}), strict=True))


@pytest.mark.parametrize('family', ['splitee_demo', 'ssdlite320_mobilenet_v3_large'])
def test_onnx_runtime_matches_torch_for_every_split(family, tmp_path):
    """ONNX Runtime vs PyTorch on head and tail graphs: raw outputs within 1e-4, the same detections."""
    model = full_detector(family)
    image = torch.rand(1, 3, *model.input_size, generator=torch.Generator().manual_seed(1))
    for split in model.split_points:
        exported = export_split(model, split, tmp_path)
        with torch.no_grad():
            head_outputs = model.head(split)(image)
            tail_outputs = model.tail(split)(head_outputs['code'])
        onnx_head = onnx_outputs(exported.head_path, 'image', image)
        assert list(onnx_head) == list(exported.head_outputs) == list(head_outputs)
        for key, value in head_outputs.items():
            np.testing.assert_allclose(onnx_head[key], value.numpy(), atol=1e-4, rtol=1e-4, err_msg=key)
        onnx_tail = onnx_outputs(exported.tail_path, 'code', torch.from_numpy(onnx_head['code']))
        for key, value in tail_outputs.items():
            np.testing.assert_allclose(onnx_tail[key], value.numpy(), atol=1e-4, rtol=1e-4, err_msg=key)
        torch_detections = model.detections({key: value.numpy() for key, value in tail_outputs.items()})[0]
        onnx_detections = model.detections(onnx_tail)[0]
        assert len(onnx_detections) == len(torch_detections)
        np.testing.assert_allclose(onnx_detections.boxes, torch_detections.boxes, atol=1e-3)


def test_weights_round_trip_and_errors(tmp_path):
    torch.manual_seed(0)
    config = ModelConfig(family='splitee_demo', bottlenecks={'stage1': BOTTLENECK}, exits={'*': ExitConfig()})
    source = build_detector(config)
    path = tmp_path / 'demo.pt'
    torch.save({'model': source.state_dict()}, path)
    loaded = build_detector(ModelConfig(**{**config.__dict__, 'weights': str(path)}))
    for key, value in source.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key

    missing = tmp_path / 'absent.pt'
    with pytest.raises(WeightsError, match=str(missing)):
        build_detector(ModelConfig(family='splitee_demo', weights=str(missing)))
    other_classes = ModelConfig(family='splitee_demo', class_names=('bg', 'car'), weights=str(path))
    with pytest.raises(WeightsError, match=r'unexpected keys: bottlenecks.*wrong shapes: .*cls_logits'):
        build_detector(other_classes)
    corrupt = tmp_path / 'corrupt.pt'
    corrupt.write_bytes(b'not a checkpoint')
    with pytest.raises(WeightsError, match='cannot be read'):
        build_detector(ModelConfig(family='splitee_demo', weights=str(corrupt)))


def test_config_from_yaml_and_its_errors(tmp_path):
    path = tmp_path / 'model.yaml'
    config = {
        'family': 'splitee_demo',
        'input_size': [256, 320],
        'splits': ['stage1', 'stage2'],
        'bottlenecks': {'stage2': {'code_channels': 8, 'stride': 2}},
        'exits': {'*': {'width': 16}},
        'postprocess': {'score_thresh': 0.4},
    }
    path.write_text(yaml.safe_dump(config))
    model = build_detector(ModelConfig.from_yaml(path))
    assert list(model.split_points) == ['stage1', 'stage2']
    assert list(model.bottlenecks) == ['stage2'] and set(model.exits) == {'stage1', 'stage2'}
    assert model.split_points['stage2'].shape == (40, 32, 40)
    assert model.postprocess_config.score_thresh == 0.4

    with pytest.raises(ValueError, match=r"unknown model config keys \['colour'\]"):
        ModelConfig.from_dict({'family': 'splitee_demo', 'colour': 'red'})
    with pytest.raises(ValueError, match='unknown BottleneckConfig keys'):
        ModelConfig.from_dict({'family': 'splitee_demo', 'bottlenecks': {'*': {'chanels': 3}}})
    with pytest.raises(KeyError, match='unknown detector family'):
        build_detector(ModelConfig(family='yolo'))
    with pytest.raises(KeyError, match="no split point 'stage9'"):
        build_detector(ModelConfig(family='splitee_demo', splits=('stage9',)))
    with pytest.raises(ValueError, match='skip connection'):
        build_detector(ModelConfig(family='splitee_demo', splits=('stage3',)))


def test_torchvision_state_dict_loads_into_a_torchvision_family(tmp_path):
    torch.manual_seed(0)
    config = ModelConfig(family='fasterrcnn_mobilenet_v3_large_320_fpn')
    source = TORCHVISION_FAMILIES[config.family].model(config)
    path = tmp_path / 'torchvision.pth'
    torch.save(source.state_dict(), path)
    torch.manual_seed(1)  # different random weights, replaced by the file's
    model = build_detector(ModelConfig(family=config.family, torchvision_weights=str(path)))
    assert torch.equal(model.backbone.stages[3].block[0][0].weight, source.backbone.body['3'].block[0][0].weight)
    assert torch.equal(
        model.neck_head.roi_heads.box_predictor.cls_score.weight, source.roi_heads.box_predictor.cls_score.weight
    )
    torch.save({k: v for k, v in source.state_dict().items() if not k.startswith('rpn')}, path)
    with pytest.raises(WeightsError, match='missing keys: rpn'):
        build_detector(ModelConfig(family=config.family, torchvision_weights=str(path)))
