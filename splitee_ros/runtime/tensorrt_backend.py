# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""TensorRT backend (TensorRT 10 Python API): engines built from the ONNX exports, cached, run on a CUDA stream.

Engines are cached under a key made of the ONNX file's SHA-256, the TensorRT version, the GPU's name, the
precision and the largest batch; beside each engine a JSON file records the key and the engine's own SHA-256.
An engine whose record does not match (stale: the ONNX changed; foreign: another GPU, TensorRT, precision or
batch; damaged) is rebuilt, never used. The graphs have a dynamic batch axis: each engine has one optimisation
profile from a batch of one to `max_batch` (optimal at `max_batch`: the edge batches to keep up; a vehicle
with one camera builds with 1). INT8 engines are calibrated on sample inputs, and the calibration cache is
reused only under the same key. Streams and device buffers come from cuda-python (`runtime.cuda_memory`), so
the vehicle's TensorRT process loads no PyTorch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from splitee_ros.digest import sha256_file
from splitee_ros.runtime.cuda_memory import DeviceBuffer, Stream, device_index, device_name
from splitee_ros.runtime.graph_io import TensorSpec, onnx_io
from splitee_ros.runtime.spec import RuntimeSpec

if TYPE_CHECKING:
    import tensorrt
    from typing_extensions import Buffer

PRECISIONS = ('fp32', 'fp16', 'int8')
MAX_BATCH = 64
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on; an engine is only ever used under the key it was built with."""

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    precision: str
    max_batch: int = 1

    def __post_init__(self) -> None:
        """Refuse unknown precisions and batch sizes."""
        if self.precision not in PRECISIONS:
            raise ValueError(f'precision must be one of {PRECISIONS}, not {self.precision!r}')
        if not 1 <= self.max_batch <= MAX_BATCH:
            raise ValueError(f'max_batch must be within 1..{MAX_BATCH}, not {self.max_batch}')

    @property
    def digest(self) -> str:
        """Short hex digest of the key, used in file names."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class EngineMismatchError(RuntimeError):
    """An engine's tensors are not the ONNX graph's."""


def check_engine_io(expected: Sequence[TensorSpec], engine: Sequence[TensorSpec]) -> None:
    """Raise EngineMismatchError unless the engine has exactly the graph's tensors (name, direction, shape, dtype).

    TensorRT may run an output in another precision internally, but its I/O types follow the ONNX graph.
    """
    want, have = {t.name: t for t in expected}, {t.name: t for t in engine}
    problems = [f'missing {name}' for name in sorted(set(want) - set(have))]
    problems += [f'unexpected {name}' for name in sorted(set(have) - set(want))]
    for name in sorted(set(want) & set(have)):
        if want[name] != have[name]:
            problems.append(f'{name}: graph {want[name]}, engine {have[name]}')
    if problems:
        raise EngineMismatchError('engine does not match its ONNX graph: ' + '; '.join(problems))


class EngineCache:
    """Engine files `<graph>.<precision>.<digest>.engine` with their key records `<...>.json`."""

    def __init__(self, folder: str | Path) -> None:
        """Use (and create) `folder`."""
        self.folder = Path(folder)

    def paths(self, graph: str, key: EngineKey) -> tuple[Path, Path]:
        """The engine file and its record for `graph` under `key`."""
        stem = f'{graph}.{key.precision}.{key.digest}'
        return self.folder / f'{stem}.engine', self.folder / f'{stem}.json'

    def lookup(self, graph: str, key: EngineKey) -> tuple[bytes | None, str]:
        """The cached engine's bytes if its record matches `key` and its bytes their hash; else None and why."""
        engine_path, record_path = self.paths(graph, key)
        if not engine_path.is_file():
            return None, 'not built yet'
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError):
            return None, 'no readable key record beside the engine'
        if record.get('key') != asdict(key):
            return None, f'built under another key {record.get("key")}'
        data = engine_path.read_bytes()
        if hashlib.sha256(data).hexdigest() != record.get('engine_sha256'):
            return None, 'engine file does not match its recorded hash'
        return data, 'cached'

    def store(self, graph: str, key: EngineKey, data: bytes) -> Path:
        """Write an engine and its record (the record last, so a crash leaves no valid-looking engine)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        engine_path, record_path = self.paths(graph, key)
        record_path.unlink(missing_ok=True)
        _write_atomically(engine_path, data)
        record = {'key': asdict(key), 'engine_sha256': hashlib.sha256(data).hexdigest(), 'graph': graph}
        _write_atomically(record_path, json.dumps(record, indent=2).encode())
        return engine_path


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f'.{path.name}.{os.getpid()}.tmp')
    temporary.write_bytes(data)
    os.replace(temporary, path)


def cached_or_built(
    cache: EngineCache, graph: str, key: EngineKey, build: Callable[[], bytes], on_build: Callable[[str, str], None]
) -> bytes:
    """The engine of `graph` from `cache` if valid under `key`; otherwise `build()` it, store it and say why."""
    data, reason = cache.lookup(graph, key)
    if data is None:
        on_build(graph, reason)
        data = build()
        cache.store(graph, key, data)
    return data


class CalibrationCache:
    """TensorRT's INT8 calibration cache for one graph, trusted only under the key it was made with."""

    def __init__(self, path: str | Path, key: EngineKey) -> None:
        """`path` is the cache file; a `.json` record beside it holds the key."""
        self.path = Path(path)
        self.record = self.path.with_suffix('.json')
        self.key = key

    def read(self) -> bytes | None:
        """The cache if it was written under the same key, else None (TensorRT then calibrates afresh)."""
        try:
            record = json.loads(self.record.read_text())
            data = self.path.read_bytes()
        except (OSError, ValueError):
            return None
        if record.get('key') != asdict(self.key) or record.get('sha256') != hashlib.sha256(data).hexdigest():
            return None
        return data

    def write(self, data: bytes) -> None:
        """Keep TensorRT's cache and its record."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(data)
        self.record.write_text(json.dumps({'key': asdict(self.key), 'sha256': hashlib.sha256(data).hexdigest()}))


def calibration_inputs(folder: str | Path, graph: str, images: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Sample inputs of `graph` for INT8 calibration.

    Heads and the full model take pre-processed images; a tail takes the codes its head makes from them
    (run with ONNX Runtime on the CPU).
    """
    from splitee_ros.runtime.ort_backend import OnnxRuntimeBackend
    from splitee_ros.runtime.preprocess import to_model_input

    spec = RuntimeSpec.load(folder)
    inputs = [to_model_input(image, spec.input_size)[None] for image in images]
    if not graph.endswith('.tail'):
        return inputs
    head = OnnxRuntimeBackend(folder).load(graph[: -len('.tail')] + '.head')
    return [head.run(value)['code'] for value in inputs]


def require_tensorrt() -> ModuleType:
    """The `tensorrt` module, or a RuntimeError that says how to get it."""
    try:
        import tensorrt as api
    except ImportError as error:
        raise RuntimeError(
            'the tensorrt backend needs TensorRT 10 (JetPack 6 ships it; on x86 `pip install tensorrt` with a '
            'CUDA GPU); use backend onnxruntime or torch here'
        ) from error
    tensorrt: ModuleType = api
    return tensorrt


def _make_calibrator(trt: ModuleType, inputs: Sequence[np.ndarray], cache: CalibrationCache, stream: Stream) -> object:
    # TensorRT is untyped: mypy neither resolves a base class from the module passed in nor subclasses Any
    class Calibrator(trt.IInt8EntropyCalibrator2):  # type: ignore[name-defined, misc]
        """Feeds the sample inputs one at a time (batches of one: the profile's least) from a device buffer."""

        def __init__(self) -> None:
            super().__init__()
            self.inputs = list(inputs)
            self.buffer: DeviceBuffer | None = None

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names: list[str]) -> list[int] | None:
            if not self.inputs:
                return None
            value = self.inputs.pop(0)
            if self.buffer is None:
                self.buffer = DeviceBuffer(value.shape, value.dtype)
            stream.use()
            kept = self.buffer.upload(value, stream)
            stream.synchronize()
            del kept
            return [self.buffer.address]

        def read_calibration_cache(self) -> bytes | None:
            return cache.read()

        def write_calibration_cache(self, data: Buffer) -> None:
            cache.write(bytes(data))

    return Calibrator()


class TensorRTSession:
    """One deserialised engine with device buffers for its largest batch, run with `execute_async_v3`."""

    def __init__(self, trt: ModuleType, engine: tensorrt.ICudaEngine, stream: Stream, max_batch: int = 1) -> None:
        """Allocate a device buffer per I/O tensor (the batch axis at `max_batch`) and bind its address once."""
        self.engine = engine
        self.context = engine.create_execution_context()
        self.stream = stream
        self.max_batch = max_batch
        self.tensors = engine_io(trt, engine)
        self.buffers: dict[str, DeviceBuffer] = {}
        stream.use()
        for tensor in self.tensors:
            shape = (max_batch, *tensor.shape[1:]) if tensor.shape[:1] == (-1,) else tensor.shape
            self.buffers[tensor.name] = DeviceBuffer(shape, np.dtype(tensor.dtype))
            self.context.set_tensor_address(tensor.name, self.buffers[tensor.name].address)
        self.input_name = next(t.name for t in self.tensors if t.is_input)

    def run(self, value: np.ndarray) -> dict[str, np.ndarray]:
        """Copy a batch in, execute on the stream, copy the batch's outputs out."""
        batch = value.shape[0]
        if not 1 <= batch <= self.max_batch:
            raise ValueError(f'a batch of {batch}: this engine was built for 1 to {self.max_batch}')
        self.stream.use()  # any thread: the engine's GPU
        self.context.set_input_shape(self.input_name, tuple(value.shape))
        uploaded = self.buffers[self.input_name].upload(value, self.stream)
        if not self.context.execute_async_v3(int(self.stream.handle)):
            raise RuntimeError('TensorRT execute_async_v3 failed')
        outputs = {
            t.name: self.buffers[t.name].download(tuple(self.context.get_tensor_shape(t.name)), self.stream)
            for t in self.tensors
            if not t.is_input
        }
        self.stream.synchronize()
        del uploaded  # read by the copy until the synchronisation
        return outputs


def engine_io(trt: ModuleType, engine: tensorrt.ICudaEngine) -> list[TensorSpec]:
    """An engine's I/O tensors in the same form as `onnx_io`."""
    tensors = []
    for index in range(engine.num_io_tensors):
        name = engine.get_tensor_name(index)
        is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
        dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name))).name
        tensors.append(TensorSpec(name, tuple(engine.get_tensor_shape(name)), dtype, is_input))
    return sorted(tensors, key=lambda t: not t.is_input)


class TensorRTBackend:
    """Builds (or loads from the cache) one engine per graph and runs it on the GPU."""

    name = 'tensorrt'

    def __init__(
        self,
        folder: str | Path,
        device: str = 'cuda',
        precision: str = 'fp16',
        cache_folder: str | Path | None = None,
        workspace_mb: int = 1024,
        calibration_images: Sequence[np.ndarray] = (),
        on_build: Callable[[str, str], None] | None = None,
        max_batch: int = 1,
    ) -> None:
        """Prepare the builder; `calibration_images` (BGR frames) are needed for INT8 unless caches exist.

        `max_batch` is the largest batch the engines take (the edge's dynamic batcher's `max_batch`).
        """
        if device.split(':')[0] != 'cuda':
            raise ValueError(f'the tensorrt backend runs on cuda, not {device!r}')
        self.trt = require_tensorrt()
        self.folder = Path(folder)
        self.device = device
        self.precision = precision
        self.max_batch = max_batch
        self.spec = RuntimeSpec.load(self.folder)
        self.cache = EngineCache(cache_folder or self.folder / 'engines')
        self.workspace_bytes = workspace_mb << 20
        self.calibration_images = list(calibration_images)
        self.on_build = on_build or (lambda graph, reason: _log.info('building %s engine: %s', graph, reason))
        self.stream = Stream(device_index(device))
        self.gpu_name = device_name(self.stream.device)
        self.logger = self.trt.Logger(self.trt.Logger.WARNING)
        self.runtime = self.trt.Runtime(self.logger)

    def key(self, graph: str) -> EngineKey:
        """The cache key of `graph`'s engine on this GPU, TensorRT and precision."""
        onnx_path = self.folder / f'{graph}.onnx'
        return EngineKey(sha256_file(onnx_path), self.trt.__version__, self.gpu_name, self.precision, self.max_batch)

    def build(self, graph: str) -> bytes:
        """Parse `<graph>.onnx` and build a serialised engine at this backend's precision."""
        trt = self.trt
        builder = trt.Builder(self.logger)
        network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
        parser = trt.OnnxParser(network, self.logger)
        onnx_path = self.folder / f'{graph}.onnx'
        if not parser.parse(onnx_path.read_bytes()):
            errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
            raise RuntimeError(f'{onnx_path}: TensorRT cannot parse it: {errors}')
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, self.workspace_bytes)
        profile = builder.create_optimization_profile()
        for index in range(network.num_inputs):
            tensor = network.get_input(index)
            single = (1, *tuple(tensor.shape)[1:])
            largest = (self.max_batch, *single[1:])
            profile.set_shape(tensor.name, single, largest, largest)  # min, opt, max
        config.add_optimization_profile(profile)
        if self.precision in ('fp16', 'int8'):
            config.set_flag(trt.BuilderFlag.FP16)
        if self.precision == 'int8':
            key = self.key(graph)
            cache = CalibrationCache(self.cache.folder / f'{graph}.{key.digest}.calibration', key)
            if cache.read() is None and not self.calibration_images:
                raise ValueError(f'the INT8 engine of {graph} needs calibration images (no calibration cache)')
            inputs = calibration_inputs(self.folder, graph, self.calibration_images) if self.calibration_images else []
            config.set_flag(trt.BuilderFlag.INT8)
            config.int8_calibrator = _make_calibrator(trt, inputs, cache, self.stream)
            config.set_calibration_profile(profile)  # the calibrator feeds batches of one
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise RuntimeError(f'TensorRT failed to build the {graph} engine')
        return bytes(serialized)

    def engine_bytes(self, graph: str) -> bytes:
        """The cached engine of `graph`, built and stored first when there is no valid one.

        Vehicle and edge processes on one host may want the same engine: they build it one at a time.
        """
        from splitee_ros.runtime.exports import exclusive

        with exclusive(self.cache.folder / f'.{graph}.lock'):
            return cached_or_built(self.cache, graph, self.key(graph), lambda: self.build(graph), self.on_build)

    def load(self, graph: str) -> TensorRTSession:
        """Deserialise `graph`'s engine (rebuilding one that does not deserialise) and check its I/O."""
        engine = self.runtime.deserialize_cuda_engine(self.engine_bytes(graph))
        if engine is None:
            self.on_build(graph, 'cached engine does not deserialise')
            data = self.build(graph)
            self.cache.store(graph, self.key(graph), data)
            engine = self.runtime.deserialize_cuda_engine(data)
        check_engine_io(onnx_io(self.folder / f'{graph}.onnx'), engine_io(self.trt, engine))
        return TensorRTSession(self.trt, engine, self.stream, self.max_batch)
