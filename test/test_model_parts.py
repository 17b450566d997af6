# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Bottlenecks, exit heads, ONNX export, weights and configuration of splittable detectors."""

import functools

import numpy as np
import onnxruntime
import pytest
import torch
import yaml
from model_helpers import camera_like_image, spread_class_scores

from splitee_ros.model.config import BottleneckConfig, ExitConfig, ModelConfig
from splitee_ros.model.export import export_split
from splitee_ros.model.families import FAMILIES, TORCHVISION_FAMILIES, build_detector
from splitee_ros.model.weights import WeightsError

BOTTLENECK = BottleneckConfig(code_channels=12, stride=2)


@functools.cache
def full_detector(family: str):
    """A family with a bottleneck and an exit at every split point, and a threshold low enough for random weights."""
    torch.manual_seed(3)
    config = ModelConfig(
        family=family,
        bottlenecks={'*': BOTTLENECK},
        exits={'*': ExitConfig(width=32)},
        postprocess={'score_thresh': 0.001},
    )
    model = build_detector(config)
    spread_class_scores(model, lambda: model(camera_like_image(model.input_size)))
    return model


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_every_split_has_a_bottleneck_and_an_exit(family):
    model = full_detector(family)
    image = torch.rand(1, 3, *model.input_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        unsplit = model(image)
    order = list(model.split_points)
    frame_size = (model.input_size[0] * 3 // 2, model.input_size[1] * 2)  # the camera frame is larger
    for position, (split, point) in enumerate(model.split_points.items()):
        assert split in model.bottlenecks
        assert split in model.exits
        with torch.no_grad():
            head_outputs = model.head(split)(image)
            tail_outputs = model.tail(split)(head_outputs['code'])
        _, height, width = point.shape
        assert head_outputs['code'].shape == (1, BOTTLENECK.code_channels, height // 2, width // 2)
        # the exits at or before the split travel with the head
        exits_in_head = {key.split('.')[1] for key in head_outputs if key.startswith('exit.')}
        assert exits_in_head == set(order[: position + 1])
        numpy_outputs = {key: value.numpy() for key, value in head_outputs.items()}
        for name in exits_in_head:
            confidence = head_outputs[f'exit.{name}.confidence']
            assert confidence.shape == (1,)
            assert 0 <= float(confidence) <= 1
            in_input = model.detections(numpy_outputs, exit_name=name)[0]
            in_frame = model.detections(numpy_outputs, frame_size=frame_size, exit_name=name)[0]
            assert len(in_frame) == len(in_input) > 0
            np.testing.assert_allclose(in_frame.boxes, in_input.boxes * np.array([2, 1.5, 2, 1.5]), rtol=1e-5)
        # the decoder restores what the tail expects: the tail's outputs have the unsplit model's layout
        assert set(tail_outputs) == set(unsplit)
        for key, value in unsplit.items():
            assert tail_outputs[key].shape[1:] == value.shape[1:], key


def onnx_outputs(path, name, value):
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, {name: value.numpy()}), strict=True))


def assert_close_to_scale(actual, expected, key):
    """Float32 graphs that sum differently agree to about 1e-6 of the tensor's largest magnitude."""
    tolerance = 1e-4 + 1e-5 * float(np.abs(expected).max(initial=0))
    np.testing.assert_allclose(actual, expected, atol=tolerance, rtol=0, err_msg=key)


@pytest.mark.parametrize('family', ['splitee_demo', 'ssdlite320_mobilenet_v3_large'])
@pytest.mark.parametrize('bottleneck', [True, False], ids=['bottleneck', 'cut'])
def test_onnx_runtime_matches_torch_for_every_split(family, bottleneck, tmp_path):
    """ONNX Runtime vs PyTorch on head and tail graphs, exits included.

    Raw outputs agree within 1e-4 + 1e-5 x the largest magnitude. Without the (random, untrained)
    bottleneck the class scores are spread, so the detections are compared too: the same boxes (1e-3 px),
    labels and scores (1e-4).
    """
    model = full_detector(family)
    image = camera_like_image(model.input_size, seed=1)
    for split in model.split_points:
        exported = export_split(model, split, tmp_path, bottleneck=bottleneck)
        with torch.no_grad():
            head_outputs = model.head(split, bottleneck=bottleneck)(image)
            tail_outputs = model.tail(split, bottleneck=bottleneck)(head_outputs['code'])
        onnx_head = onnx_outputs(exported.head_path, 'image', image)
        assert list(onnx_head) == list(exported.head_outputs) == list(head_outputs)
        assert any(key.startswith(f'exit.{split}.') for key in onnx_head)
        for key, value in head_outputs.items():
            assert_close_to_scale(onnx_head[key], value.numpy(), key)
        onnx_tail = onnx_outputs(exported.tail_path, 'code', torch.from_numpy(onnx_head['code']))
        for key, value in tail_outputs.items():
            assert_close_to_scale(onnx_tail[key], value.numpy(), key)
        assert set(np.load(tmp_path / 'constants.npz').files) == set(model.constants())
        if bottleneck:
            continue
        torch_detections = model.detections({key: value.numpy() for key, value in tail_outputs.items()})[0]
        onnx_detections = model.detections(onnx_tail)[0]
        assert len(onnx_detections) == len(torch_detections) > 0
        np.testing.assert_array_equal(onnx_detections.labels, torch_detections.labels)
        np.testing.assert_allclose(onnx_detections.scores, torch_detections.scores, atol=1e-4)
        np.testing.assert_allclose(onnx_detections.boxes, torch_detections.boxes, atol=1e-3)


def test_pixel_shuffle_decoder_works_at_the_code_resolution(tmp_path):
    """Its blocks see the code's resolution, it restores the cut tensor, and ONNX Runtime agrees with PyTorch."""
    torch.manual_seed(4)
    bottleneck = BottleneckConfig(code_channels=12, stride=2, hidden=16, blocks=1, encoder_hidden=8, encoder_blocks=0,
                                  decoder_upsample='pixel_shuffle')  # fmt: skip
    model = build_detector(ModelConfig(family='splitee_demo', bottlenecks={'*': bottleneck}))
    image = camera_like_image(model.input_size, seed=2)
    for split, point in model.split_points.items():
        decoder = model.bottlenecks[split].decoder
        seen: list = []
        hooks = [conv.register_forward_hook(lambda module, inputs, output, seen=seen: seen.append(inputs[0].shape[-2:]))
                 for conv in decoder.modules() if isinstance(conv, torch.nn.Conv2d)]  # fmt: skip
        with torch.no_grad():
            code = model.head(split)(image)['code']
            restored = model.bottlenecks[split].decode(code)
        for hook in hooks:
            hook.remove()
        _, height, width = point.shape
        assert code.shape[-2:] == (height // 2, width // 2)
        assert restored.shape[1:] == point.shape
        assert set(seen) == {code.shape[-2:]}
        exported = export_split(model, split, tmp_path)
        with torch.no_grad():
            tail_outputs = model.tail(split)(code)
        onnx_tail = onnx_outputs(exported.tail_path, 'code', code)
        for key, value in tail_outputs.items():
            assert_close_to_scale(onnx_tail[key], value.numpy(), key)


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
    with pytest.raises(ValueError, match='same place'):
        build_detector(ModelConfig(family='fasterrcnn_resnet50_fpn', splits=('layer1', 'layer1_2')))
    with pytest.raises(ValueError, match='at least one split point'):
        build_detector(ModelConfig(family='splitee_demo', splits=()))
    with pytest.raises(KeyError, match=r"bottlenecks name unknown split points \['stage7'\]"):
        build_detector(ModelConfig.from_dict({'family': 'splitee_demo', 'bottlenecks': {'stage7': {}}}))
    with pytest.raises(ValueError, match=r"decoder_upsample must be one of \['nearest', 'pixel_shuffle'\]"):
        ModelConfig.from_dict({'family': 'splitee_demo', 'bottlenecks': {'*': {'decoder_upsample': 'bilinear'}}})
    with pytest.raises(ValueError, match='stride 1, 2 or 4'):
        build_detector(ModelConfig.from_dict({'family': 'splitee_demo', 'bottlenecks': {'*': {'stride': 0}}}))
    with pytest.raises(ValueError, match='unknown postprocess keys'):
        build_detector(ModelConfig(family='splitee_demo', postprocess={'score': 0.5}))
    with pytest.raises(ValueError, match='multiple of 32'):
        build_detector(ModelConfig(family='fasterrcnn_mobilenet_v3_large_320_fpn', input_size=(300, 400)))


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
    # torchvision's pretrained files come from frozen batch norm: no step counters
    torch.save({k: v for k, v in source.state_dict().items() if not k.endswith('num_batches_tracked')}, path)
    assert build_detector(ModelConfig(family=config.family, torchvision_weights=str(path))) is not None
    torch.save({k: v for k, v in source.state_dict().items() if not k.startswith('rpn')}, path)
    with pytest.raises(WeightsError, match='missing keys: rpn'):
        build_detector(ModelConfig(family=config.family, torchvision_weights=str(path)))
