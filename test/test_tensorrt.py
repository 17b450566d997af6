# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""TensorRT backend: cache keys, stale and foreign engines, ONNX I/O mapping, calibration caches.

Everything but building and running engines is plain Python and runs here; the engine tests need TensorRT
and a CUDA GPU, and are skipped (with that reason) where those are absent.
"""

import dataclasses
import json
import sys

import numpy as np
import pytest
from conftest import DEMO_PACKAGE

from splitee_ros.data.synth import sample_frames
from splitee_ros.digest import sha256_file
from splitee_ros.runtime.base import SplitRuntime, make_runtime
from splitee_ros.runtime.graph_io import TensorSpec, onnx_io
from splitee_ros.runtime.ort_backend import OnnxRuntimeBackend
from splitee_ros.runtime.preprocess import to_model_input
from splitee_ros.runtime.spec import RuntimeSpec
from splitee_ros.runtime.tensorrt_backend import (
    CalibrationCache,
    EngineCache,
    EngineKey,
    EngineMismatchError,
    cached_or_built,
    calibration_inputs,
    check_engine_io,
)

KEY = EngineKey('ab' * 32, '10.3.0', 'Orin (nvgpu)', 'fp16')


def test_engine_key_covers_onnx_tensorrt_gpu_and_precision():
    variants = [
        dataclasses.replace(KEY, onnx_sha256='cd' * 32),
        dataclasses.replace(KEY, tensorrt_version='10.4.0'),
        dataclasses.replace(KEY, gpu_name='NVIDIA H100 80GB HBM3'),
        dataclasses.replace(KEY, precision='int8'),
        dataclasses.replace(KEY, max_batch=8),
    ]
    digests = {KEY.digest} | {variant.digest for variant in variants}
    assert len(digests) == 6 and all(len(digest) == 16 for digest in digests)
    assert dataclasses.replace(KEY).digest == KEY.digest
    with pytest.raises(ValueError, match='precision must be one of'):
        EngineKey('ab' * 32, '10.3.0', 'Orin', 'int4')
    with pytest.raises(ValueError, match='max_batch must be within'):
        EngineKey('ab' * 32, '10.3.0', 'Orin', 'fp16', max_batch=0)


def test_engine_cache_uses_only_engines_built_under_the_same_key(tmp_path):
    cache = EngineCache(tmp_path)
    assert cache.lookup('stage1.head', KEY) == (None, 'not built yet')
    cache.store('stage1.head', KEY, b'engine-bytes')
    assert cache.lookup('stage1.head', KEY) == (b'engine-bytes', 'cached')
    stale = dataclasses.replace(KEY, onnx_sha256='cd' * 32)  # the ONNX changed: another file name, so a miss
    assert cache.lookup('stage1.head', stale) == (None, 'not built yet')
    # A foreign engine copied under this key's file names (from another GPU, say) is refused by its record.
    foreign = dataclasses.replace(KEY, gpu_name='NVIDIA A100')
    cache.store('stage1.tail', foreign, b'foreign-engine')
    for source, target in zip(cache.paths('stage1.tail', foreign), cache.paths('stage1.tail', KEY), strict=True):
        target.write_bytes(source.read_bytes())
    data, reason = cache.lookup('stage1.tail', KEY)
    assert data is None and reason.startswith('built under another key') and 'NVIDIA A100' in reason
    engine_path, record_path = cache.paths('stage1.head', KEY)
    engine_path.write_bytes(b'engine-bytez')  # damaged on disk
    assert cache.lookup('stage1.head', KEY) == (None, 'engine file does not match its recorded hash')
    record_path.unlink()
    assert cache.lookup('stage1.head', KEY) == (None, 'no readable key record beside the engine')


def test_stale_or_foreign_engines_are_rebuilt_and_valid_ones_reused(tmp_path):
    cache, builds = EngineCache(tmp_path), []

    def build():
        builds.append(1)
        return f'engine-{len(builds)}'.encode()

    reasons: list[str] = []

    def on_build(graph, reason):
        reasons.append(reason)

    assert cached_or_built(cache, 'full', KEY, build, on_build) == b'engine-1'
    assert cached_or_built(cache, 'full', KEY, build, on_build) == b'engine-1' and len(builds) == 1
    cache.paths('full', KEY)[0].write_bytes(b'tampered')
    assert cached_or_built(cache, 'full', KEY, build, on_build) == b'engine-2'
    assert reasons == ['not built yet', 'engine file does not match its recorded hash']
    record = json.loads(cache.paths('full', KEY)[1].read_text())
    assert record['key']['gpu_name'] == KEY.gpu_name and record['graph'] == 'full'


def test_onnx_io_maps_the_exported_graphs(demo_exports):
    spec = RuntimeSpec.load(demo_exports)
    for split in spec.splits:
        head = onnx_io(demo_exports / f'{split.name}.head.onnx')
        assert [t.name for t in head if t.is_input] == ['image']
        assert head[0] == TensorSpec('image', (-1, 3, *spec.input_size), 'float32', True)  # a dynamic batch
        outputs = {t.name: t for t in head if not t.is_input}
        assert outputs['code'].shape == (-1, *split.code_shape[1:])
        exits = {f'exit.{e}.{k}' for e in split.exits for k in ('cls_logits', 'bbox_regression', 'confidence')}
        assert set(outputs) == {'code'} | exits
        tail = onnx_io(demo_exports / f'{split.name}.tail.onnx')
        assert tail[0] == TensorSpec('code', (-1, *split.code_shape[1:]), 'float32', True)
        assert {t.name for t in tail if not t.is_input} == {'cls_logits', 'bbox_regression'}


def test_engine_io_must_match_the_graph():
    graph = [TensorSpec('code', (1, 12, 30, 40), 'float32', True), TensorSpec('logits', (1, 9, 8), 'float32', False)]
    check_engine_io(graph, list(reversed(graph)))
    renamed = [graph[0], dataclasses.replace(graph[1], name='scores')]
    with pytest.raises(EngineMismatchError, match='missing logits; unexpected scores'):
        check_engine_io(graph, renamed)
    with pytest.raises(EngineMismatchError, match='code: graph'):
        check_engine_io(graph, [dataclasses.replace(graph[0], shape=(1, 12, 60, 80)), graph[1]])
    with pytest.raises(EngineMismatchError, match='logits: graph'):
        check_engine_io(graph, [graph[0], dataclasses.replace(graph[1], dtype='float16')])


def test_calibration_cache_is_trusted_only_under_its_key(tmp_path):
    path = tmp_path / 'stage1.head.calibration'
    cache = CalibrationCache(path, dataclasses.replace(KEY, precision='int8'))
    assert cache.read() is None
    cache.write(b'TRT-100300-EntropyCalibration2\nimage: 3c010204\n')
    assert cache.read() == b'TRT-100300-EntropyCalibration2\nimage: 3c010204\n'
    assert CalibrationCache(path, dataclasses.replace(KEY, precision='int8', gpu_name='other')).read() is None
    path.write_bytes(b'edited by hand')
    assert cache.read() is None


def test_calibration_inputs_are_images_for_heads_and_codes_for_tails(demo_exports):
    spec = RuntimeSpec.load(demo_exports)
    frames = sample_frames(2, seed=7000)
    heads = calibration_inputs(demo_exports, 'stage1.head', frames)
    np.testing.assert_array_equal(heads[1], to_model_input(frames[1], spec.input_size)[None])
    tails = calibration_inputs(demo_exports, 'stage1.tail', frames)
    head = OnnxRuntimeBackend(demo_exports).load('stage1.head')
    assert [t.shape for t in tails] == [spec.split('stage1').code_shape] * 2
    np.testing.assert_array_equal(tails[0], head.run(heads[0])['code'])
    assert sha256_file(demo_exports / 'stage1.head.onnx') != sha256_file(demo_exports / 'stage1.tail.onnx')


def needs_a_gpu() -> None:
    """Skip unless a CUDA GPU answers: cuda-python (and TensorRT) install on hosts without one too."""
    pytest.importorskip('cuda.bindings', reason='cuda-python is the tensorrt extra')
    from splitee_ros.runtime.cuda_memory import call, cudart

    try:
        count = call(cudart().cudaGetDeviceCount())
    except RuntimeError as error:
        pytest.skip(f'needs a CUDA GPU (an edge server or a Jetson): {error}')
    if count < 1:
        pytest.skip('needs a CUDA GPU (an edge server or a Jetson): none is visible')


def test_tensorrt_engines_match_onnxruntime(demo_exports, runtime_cache, tmp_path):
    pytest.importorskip('tensorrt', reason='TensorRT is not installed (it needs a CUDA GPU: Jetson or GPU host)')
    needs_a_gpu()
    from splitee_ros.runtime.tensorrt_backend import TensorRTBackend

    backend = TensorRTBackend(demo_exports, 'cuda', 'fp16', cache_folder=tmp_path, max_batch=4)
    gpu = SplitRuntime(backend, 'both', full=True)
    cpu = make_runtime(DEMO_PACKAGE, 'onnxruntime', 'both', full=True, cache=runtime_cache)
    frame = sample_frames(1, seed=4100)[0]
    for split in cpu.split_names:
        expected, actual = cpu.run_head(split, frame), gpu.run_head(split, frame)
        np.testing.assert_allclose(actual.code, expected.code, atol=2e-2 * np.abs(expected.code).max())
        reference = cpu.run_tail(split, expected.code, frame.shape[:2])
        result = gpu.run_tail(split, expected.code, frame.shape[:2])
        assert abs(len(result) - len(reference)) <= max(1, len(reference) // 10)
        batched = gpu.run_tails(split, [expected.code] * 3, [frame.shape[:2]] * 3)  # the batch profile
        assert all(len(each) == len(result) for each in batched)
    rebuilt = TensorRTBackend(demo_exports, 'cuda', 'fp16', cache_folder=tmp_path, max_batch=4, on_build=pytest.fail)
    SplitRuntime(rebuilt, 'both', full=True)  # every engine from the cache: no build


def test_build_engines_says_what_is_missing_without_tensorrt(capsys, monkeypatch):
    from splitee_ros.cli import main

    monkeypatch.setitem(sys.modules, 'tensorrt', None)  # `import tensorrt` fails, installed or not

    assert main(['build-engines', DEMO_PACKAGE, '--precision', 'fp16']) == 2
    assert 'needs TensorRT 10' in capsys.readouterr().err


def test_cuda_calls_name_their_error_and_devices_parse():
    """The TensorRT backend's CUDA glue (cuda-python, no PyTorch): errors say which, device names parse."""
    pytest.importorskip('cuda.bindings', reason='cuda-python is the tensorrt extra')
    from splitee_ros.runtime.cuda_memory import call, cudart, device_index

    runtime = cudart()
    with pytest.raises(RuntimeError, match='cudaErrorInvalidValue'):
        call((runtime.cudaError_t.cudaErrorInvalidValue,))
    assert call((runtime.cudaError_t.cudaSuccess, 42)) == 42
    assert (device_index('cuda'), device_index('cuda:3')) == (0, 3)
    with pytest.raises(ValueError, match='cuda or cuda:N'):
        device_index('cpu')


def test_device_buffers_carry_tensors_to_a_gpu_and_back():
    """The engines' input and output buffers: an upload and a download on one stream return the same values."""
    needs_a_gpu()
    from splitee_ros.runtime.cuda_memory import DeviceBuffer, Stream, device_name

    assert device_name(0)
    stream = Stream(0)
    value = np.random.default_rng(0).standard_normal((2, 16, 60, 80)).astype(np.float32)
    buffer = DeviceBuffer((4, 16, 60, 80), np.float32)  # larger than the batch, as engines allocate for their max
    kept = buffer.upload(value, stream)
    back = buffer.download(value.shape, stream)
    stream.synchronize()
    np.testing.assert_array_equal(back, kept)
    with pytest.raises(ValueError, match='do not fit'):
        buffer.upload(np.zeros((5, 16, 60, 80), np.float32), stream)
