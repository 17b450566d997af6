# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The runtime interface: torch and onnxruntime agree on every split, all splits warm, clear errors."""

import shutil

import numpy as np
import pytest
import torch
from conftest import DEMO_PACKAGE as DEMO
from model_helpers import camera_like_image, spread_class_scores

from splitee_ros.data.synth import sample_frames
from splitee_ros.model.config import BottleneckConfig, ExitConfig, ModelConfig
from splitee_ros.model.families import build_detector
from splitee_ros.model.package import ModelPackage, write_package
from splitee_ros.model.postprocess import Detections
from splitee_ros.runtime.base import HeadResult, SplitRuntime, make_runtime
from splitee_ros.runtime.exports import ensure_exported, export_folder, is_exported
from splitee_ros.runtime.ort_backend import OnnxRuntimeBackend
from splitee_ros.runtime.preprocess import to_model_input
from splitee_ros.runtime.spec import RuntimeSpec


@pytest.fixture(scope='module')
def ssdlite_package(tmp_path_factory):
    """SSDlite with random weights whose class scores spread, a bottleneck at one split, exits everywhere."""
    torch.manual_seed(3)
    config = ModelConfig(
        family='ssdlite320_mobilenet_v3_large',
        bottlenecks={'features_6': BottleneckConfig(code_channels=8, stride=1)},
        exits={'*': ExitConfig(width=16)},
    )
    detector = build_detector(config).eval()
    image = camera_like_image(detector.input_size, seed=5)
    spread_class_scores(detector, lambda: detector(image))
    folder = tmp_path_factory.mktemp('ssdlite-package')
    write_package(folder, config, detector)
    return folder


def assert_same_detections(actual: Detections, expected: Detections, box_px: float, score: float) -> None:
    assert len(actual) == len(expected)
    np.testing.assert_array_equal(actual.labels, expected.labels)
    np.testing.assert_allclose(actual.scores, expected.scores, atol=score)
    np.testing.assert_allclose(actual.boxes, expected.boxes, atol=box_px)


def assert_same_head(actual: HeadResult, expected: HeadResult, code: float, confidence: float, score: float) -> None:
    """Codes within `code` of the largest value; every exit's confidence and detections alike."""
    np.testing.assert_allclose(actual.code, expected.code, atol=code * np.abs(expected.code).max() + 1e-5)
    assert actual.frame_size == expected.frame_size and actual.confidences.keys() == expected.confidences.keys()
    for name, value in expected.confidences.items():
        assert 0.0 <= value <= 1.0
        assert actual.confidences[name] == pytest.approx(value, abs=confidence)
        assert_same_detections(actual.exit_detections(name), expected.exit_detections(name), 1e-2, score)


@pytest.mark.parametrize('package', ['demo', 'ssdlite'])
def test_onnxruntime_and_torch_give_the_same_detections_on_every_split(package, ssdlite_package, runtime_cache):
    folder = DEMO if package == 'demo' else ssdlite_package
    frames = sample_frames(3, seed=4100)
    by_backend = {
        backend: make_runtime(folder, backend, 'both', full=True, threads=2, cache=runtime_cache)
        for backend in ('torch', 'onnxruntime')
    }
    reference, candidate = by_backend['torch'], by_backend['onnxruntime']
    assert reference.split_names == candidate.split_names and len(reference.split_names) >= 2
    compared = 0
    for frame in frames:
        assert_same_detections(candidate.run_full(frame), reference.run_full(frame), box_px=1e-2, score=1e-4)
        for split in reference.split_names:
            expected_head, actual_head = reference.run_head(split, frame), candidate.run_head(split, frame)
            assert_same_head(actual_head, expected_head, code=1e-4, confidence=1e-5, score=1e-4)
            # The same code through both tails: the tails agree; each backend's own code: their results agree too.
            expected = reference.run_tail(split, expected_head.code, frame.shape[:2])
            assert_same_detections(
                candidate.run_tail(split, expected_head.code, frame.shape[:2]), expected, box_px=1e-2, score=1e-4
            )
            assert_same_detections(
                candidate.run_tail(split, actual_head.code, frame.shape[:2]), expected, box_px=5e-2, score=1e-3
            )
            compared += len(expected)
    assert compared > 0, 'no detections were compared'


@pytest.mark.parametrize('backend', ['torch', 'onnxruntime'])
def test_a_batch_gives_what_its_frames_give_one_at_a_time(backend, runtime_cache):
    """Heads (a vehicle's cameras), tails and the whole model (the edge's batches) take any batch size."""
    runtime = make_runtime(DEMO, backend, 'both', full=True, threads=2, cache=runtime_cache)
    frames = [*sample_frames(2, seed=4300), np.ascontiguousarray(sample_frames(1, seed=4301)[0][::2, ::2])]
    sizes = [frame.shape[:2] for frame in frames]
    for single, batched in zip([runtime.run_full(f) for f in frames], runtime.run_full_batch(frames), strict=True):
        assert_same_detections(batched, single, box_px=1e-2, score=1e-4)
    split = runtime.split_names[-1]
    heads = runtime.run_heads(split, frames)
    for frame, head in zip(frames, heads, strict=True):
        assert head.frame_size == frame.shape[:2]
        assert_same_head(head, runtime.run_head(split, frame), code=1e-4, confidence=1e-5, score=1e-4)
    tails = runtime.run_tails(split, [head.code for head in heads], sizes)
    for head, size, batched in zip(heads, sizes, tails, strict=True):
        assert_same_detections(batched, runtime.run_tail(split, head.code, size), box_px=1e-2, score=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU (an edge server or a Jetson)')
@pytest.mark.parametrize('cuda_graphs', [False, True])
def test_torch_on_a_gpu_gives_the_cpu_detections_with_or_without_cuda_graphs(cuda_graphs, runtime_cache):
    """The edge's GPU path: heads, tails (one code and a batch, which runs outside the graph) and the whole model."""
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False  # compare fp32 with fp32
    cpu = make_runtime(DEMO, 'torch', 'both', full=True, threads=2, cache=runtime_cache)
    gpu = make_runtime(DEMO, 'torch', 'both', 'cuda', full=True, options={'cuda_graphs': cuda_graphs})
    frames = sample_frames(3, seed=4200)
    sizes = [frame.shape[:2] for frame in frames]
    compared = 0
    for frame in frames:
        assert_same_detections(gpu.run_full(frame), cpu.run_full(frame), box_px=5e-2, score=1e-3)
        for split in cpu.split_names:
            expected_head, actual_head = cpu.run_head(split, frame), gpu.run_head(split, frame)
            assert_same_head(actual_head, expected_head, code=1e-3, confidence=1e-3, score=1e-3)
            expected = cpu.run_tail(split, expected_head.code, frame.shape[:2])
            assert_same_detections(gpu.run_tail(split, expected_head.code, frame.shape[:2]), expected, 5e-2, 1e-3)
            compared += len(expected)
    split = cpu.split_names[-1]
    codes = [cpu.run_head(split, frame).code for frame in frames]
    for batched, code, size in zip(gpu.run_tails(split, codes, sizes), codes, sizes, strict=True):
        assert_same_detections(batched, cpu.run_tail(split, code, size), box_px=5e-2, score=1e-3)
    assert compared > 0, 'no detections were compared'


def test_detections_are_in_camera_frame_pixels_for_any_frame_size(runtime_cache):
    runtime = make_runtime(DEMO, 'onnxruntime', 'head', full=True, cache=runtime_cache)
    frame = sample_frames(1, seed=4100)[0]
    small = frame[::2, ::2].copy()  # 240x320: same scene, half the size
    full_size, half_size = runtime.run_full(frame), runtime.run_full(small)
    assert len(full_size) > 0
    assert full_size.boxes[:, 2].max() <= 640 and half_size.boxes[:, 2].max() <= 320
    assert half_size.boxes[:, [2, 3]].max() > 160, 'boxes of the half-size frame span more than a quarter'


class CountingBackend:
    """An onnxruntime backend that counts loads and runs."""

    def __init__(self, inner: OnnxRuntimeBackend) -> None:
        self.inner, self.name, self.device, self.spec = inner, 'counting', inner.device, inner.spec
        self.loads: list[str] = []
        self.runs = 0

    def load(self, graph):
        """Load through the inner backend; count the load and every run."""
        self.loads.append(graph)
        session = self.inner.load(graph)
        backend = self

        class Counted:
            def run(self, value):
                backend.runs += 1
                return session.run(value)

        return Counted()


def test_every_split_is_loaded_and_warm_at_start_and_switching_loads_nothing(runtime_cache):
    backend = CountingBackend(OnnxRuntimeBackend(ensure_exported(ModelPackage.load(DEMO), runtime_cache)))
    head = SplitRuntime(backend, 'head', warmup=2)
    names = [split.name for split in backend.spec.splits]
    assert backend.loads == [f'{name}.head' for name in names]
    assert set(head.warm_ms) == set(backend.loads) and backend.runs == 2 * len(names)
    frame = sample_frames(1, seed=4100)[0]
    for name in names + names[::-1]:
        result = head.run_head(name, frame)
        assert result.split == name and result.code.shape == backend.spec.split(name).code_shape
    assert len(backend.loads) == len(names), 'a split change loaded a graph'


def test_runtime_errors_name_what_is_wrong(runtime_cache):
    runtime = make_runtime(DEMO, 'onnxruntime', 'tail', cache=runtime_cache)
    split = runtime.split_names[0]
    code_shape = runtime.spec.split(split).code_shape
    with pytest.raises(ValueError, match=rf'unknown split point .nowhere.*{split}'):
        runtime.run_tail('nowhere', np.zeros(code_shape, np.float32))
    with pytest.raises(ValueError, match='expects a code of shape'):
        runtime.run_tail(split, np.zeros((1, 2, 3, 4), np.float32))
    with pytest.raises(ValueError, match='not loaded in this tail runtime'):
        runtime.run_head(split, sample_frames(1, seed=4100)[0])
    with pytest.raises(ValueError, match='uint8 BGR image'):
        to_model_input(np.zeros((480, 640), np.uint8), (480, 640))
    with pytest.raises(ValueError, match='unknown backend'):
        make_runtime(DEMO, 'tflite', 'head', cache=runtime_cache)
    with pytest.raises(ValueError, match='role must be'):
        SplitRuntime(runtime.backend, 'vehicle')
    with pytest.raises(RuntimeError, match='no CUDAExecutionProvider'):
        OnnxRuntimeBackend(runtime.backend.folder, device='cuda')


def test_exports_are_made_once_per_model_and_redone_when_incomplete_or_foreign(demo_exports, tmp_path):
    package = ModelPackage.load(DEMO)
    folder = export_folder(package, tmp_path)
    shutil.copytree(demo_exports, folder)
    assert is_exported(folder, package.model_id)
    first = folder / f'{package.split_names[0]}.head.onnx'
    stamp = first.stat().st_mtime_ns
    assert ensure_exported(package, tmp_path) == folder and first.stat().st_mtime_ns == stamp
    assert not is_exported(folder, b'\x00' * 8), 'an export of another model counts as this one'
    spec = RuntimeSpec.load(folder)
    assert spec.model_id == package.model_id.hex() and spec.output_kind == 'retinanet'
    (folder / 'stage1.tail.onnx').unlink()
    assert not is_exported(folder, package.model_id)
    assert ensure_exported(package, tmp_path) == folder
    assert (folder / 'stage1.tail.onnx').is_file() and is_exported(folder, package.model_id)
