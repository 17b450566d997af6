# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The runtime interface: per split point `run_head(image) -> HeadResult` and `run_tail(code) -> Detections`.

A backend only loads graphs and runs them on numpy arrays; pre-processing (`to_model_input`) and
post-processing (`postprocess`) are the same code for every backend. Every graph a side needs is loaded and
warmed when the runtime starts, so that changing the split point later loads and builds nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from splitee_ros.model.postprocess import Detections, postprocess
from splitee_ros.runtime.preprocess import to_model_input
from splitee_ros.runtime.spec import FULL_GRAPH, RuntimeSpec, Side, graph_name

Role = Literal['head', 'tail', 'both']


BACKENDS = ('torch', 'onnxruntime', 'tensorrt')
ENGINES = ('ray', 'triton')  # serving engines the edge can hand its graphs to (tail_node as a DDS gateway)


class GraphSession(Protocol):
    """One loaded graph with a single input, batched along its first axis."""

    def run(self, value: np.ndarray) -> dict[str, np.ndarray]:
        """Run the graph on `value` (a batch); return its outputs by name, batched the same way."""


class Backend(Protocol):
    """Loads the graphs of one model package for one device."""

    name: str
    device: str
    spec: RuntimeSpec

    def load(self, graph: str) -> GraphSession:
        """Load (building it first if the backend must) the graph called `graph`."""


@dataclass
class HeadResult:
    """What a head run gives: the code to send and every exit's confidence (detections on demand)."""

    split: str
    code: np.ndarray
    frame_size: tuple[int, int]
    confidences: dict[str, float]
    exit_outputs: dict[str, np.ndarray] = field(repr=False)
    spec: RuntimeSpec = field(repr=False)

    def best_exit(self) -> str | None:
        """The exit with the highest confidence (the last one on ties), or None without exits."""
        if not self.confidences:
            return None
        return max(reversed(list(self.confidences)), key=self.confidences.__getitem__)

    def exit_detections(self, name: str) -> Detections:
        """Detections of exit `name`, in the camera frame's pixels."""
        if name not in self.confidences:
            raise ValueError(f'split {self.split!r} has no exit {name!r}; it has {list(self.confidences)}')
        spec = self.spec
        return postprocess(
            spec.output_kind, self.exit_outputs, spec.constants, spec.input_size, spec.postprocess, name,
            self.frame_size,
        )[0]  # fmt: skip


def graphs_of(spec: RuntimeSpec, role: Role, full: bool) -> Iterable[str]:
    """The graphs a runtime of `role` loads."""
    sides: tuple[Side, ...] = ('head', 'tail') if role == 'both' else (role,)
    yield from (graph_name(split.name, side) for split in spec.splits for side in sides)
    if full:
        yield FULL_GRAPH


class SplitRuntime:
    """A model package on one backend, every split of one role loaded and warm."""

    def __init__(self, backend: Backend, role: Role, full: bool = False, warmup: int = 2) -> None:
        """Load the head graphs (`role='head'`), tail graphs, or both, and with `full` the unsplit model."""
        if role not in ('head', 'tail', 'both'):
            raise ValueError(f'role must be head, tail or both, not {role!r}')
        self.backend = backend
        self.spec = backend.spec
        self.role = role
        graphs = graphs_of(self.spec, role, full)
        self.sessions: dict[str, GraphSession] = {graph: backend.load(graph) for graph in graphs}
        self.warm_ms = self.warm(warmup)

    def warm(self, iterations: int) -> dict[str, float]:
        """Run every loaded graph `iterations` times on zeros; return each graph's first-run time in ms."""
        first = {}
        for graph, session in self.sessions.items():
            value = np.zeros(self._input_shape(graph), np.float32)
            for iteration in range(iterations):
                start = time.perf_counter()
                session.run(value)
                if iteration == 0:
                    first[graph] = (time.perf_counter() - start) * 1e3
        return first

    def _input_shape(self, graph: str) -> tuple[int, ...]:
        if graph == FULL_GRAPH or graph.endswith('.head'):
            return (1, 3, *self.spec.input_size)
        return self.spec.split(graph.rsplit('.', 1)[0]).code_shape

    def _session(self, graph: str) -> GraphSession:
        session = self.sessions.get(graph)
        if session is None:
            split = graph.rsplit('.', 1)[0]
            self.spec.split(split)  # names the known split points if `split` is not one
            raise ValueError(f'graph {graph!r} is not loaded in this {self.role} runtime')
        return session

    @property
    def split_names(self) -> list[str]:
        """Split points in wire order."""
        return [split.name for split in self.spec.splits]

    def preprocess(self, image_bgr: np.ndarray) -> np.ndarray:
        """A camera image → the graphs' input (1, 3, h, w)."""
        return to_model_input(image_bgr, self.spec.input_size)[None]

    def run_head(self, split: str, image_bgr: np.ndarray) -> HeadResult:
        """Run `split`'s head on a BGR image: the code to send and the exits at or before the split."""
        return self.run_heads(split, [image_bgr])[0]

    def run_heads(self, split: str, images_bgr: Sequence[np.ndarray]) -> list[HeadResult]:
        """Run `split`'s head on several BGR images (a vehicle's cameras) as one batch."""
        session = self._session(graph_name(split, 'head'))
        outputs = session.run(np.concatenate([self.preprocess(image) for image in images_bgr]))
        exits = self.spec.split(split).exits
        results = []
        for index, image in enumerate(images_bgr):
            mine = {key: value[index : index + 1] for key, value in outputs.items()}
            confidences = {name: float(mine[f'exit.{name}.confidence'].reshape(-1)[0]) for name in exits}
            exit_outputs = {key: value for key, value in mine.items() if key != 'code'}
            results.append(HeadResult(split, mine['code'], image.shape[:2], confidences, exit_outputs, self.spec))
        return results

    def run_tail(self, split: str, code: np.ndarray, frame_size: tuple[int, int] | None = None) -> Detections:
        """Run `split`'s tail on a decoded code; boxes in the frame's pixels (the model input's without a size)."""
        return self.run_tails(split, [code], [frame_size])[0]

    def run_tails(
        self, split: str, codes: Sequence[np.ndarray], frame_sizes: Sequence[tuple[int, int] | None]
    ) -> list[Detections]:
        """Run `split`'s tail on several codes as one batch (frames of several cameras or vehicles)."""
        session = self._session(graph_name(split, 'tail'))
        expected = self.spec.split(split).code_shape
        for code in codes:
            if tuple(code.shape) != expected:
                raise ValueError(f'split {split!r} expects a code of shape {expected}, got {tuple(code.shape)}')
        outputs = session.run(np.ascontiguousarray(np.concatenate(codes), dtype=np.float32))
        return self._batch_detections(outputs, frame_sizes)

    def run_full(self, image_bgr: np.ndarray) -> Detections:
        """Run the whole, unsplit model on a BGR image (local mode, or the edge in image offload)."""
        return self.run_full_batch([image_bgr])[0]

    def run_full_batch(
        self, images_bgr: Sequence[np.ndarray], frame_sizes: Sequence[tuple[int, int]] | None = None
    ) -> list[Detections]:
        """Run the whole model on several BGR images (of any sizes) as one batch.

        Detections are in each image's pixels, or in `frame_sizes` when the images were scaled from frames.
        """
        outputs = self._session(FULL_GRAPH).run(np.concatenate([self.preprocess(image) for image in images_bgr]))
        sizes = list(frame_sizes) if frame_sizes is not None else [image.shape[:2] for image in images_bgr]
        return self._batch_detections(outputs, sizes)

    def _batch_detections(
        self, outputs: Mapping[str, np.ndarray], frame_sizes: Sequence[tuple[int, int] | None]
    ) -> list[Detections]:
        """Post-process a batch's outputs, each image to its own frame size."""
        return [
            self._detections({name: value[index : index + 1] for name, value in outputs.items()}, frame_size)
            for index, frame_size in enumerate(frame_sizes)
        ]

    def _detections(self, outputs: Mapping[str, np.ndarray], frame_size: tuple[int, int] | None) -> Detections:
        spec = self.spec
        return postprocess(
            spec.output_kind, outputs, spec.constants, spec.input_size, spec.postprocess, None, frame_size
        )[0]


def make_runtime(
    package_folder: str | Path,
    backend: str,
    role: Role,
    device: str = 'cpu',
    full: bool = False,
    threads: int = 0,
    options: Mapping[str, Any] | None = None,
    cache: str | Path | None = None,
) -> SplitRuntime:
    """Load `package_folder` on `backend` for `role`, every split warm.

    `backend` is torch, onnxruntime or tensorrt in this process, or a serving engine: ray (Ray Serve
    deployments; `options`: address, replicas, threads, cpus_per_replica) or triton (a Triton server with the
    package's repository, from `splitee export-triton`; `options`: address, prefix). ONNX exports (and
    TensorRT engines) go under `cache` (default `runtime.exports.cache_root()`).
    """
    from splitee_ros.model.package import ModelPackage

    package = ModelPackage.load(package_folder)
    options = dict(options or {})
    if backend == 'torch':
        from splitee_ros.runtime.torch_backend import TorchBackend

        chosen: Backend = TorchBackend(package, device, threads=threads, **options)
    elif backend == 'onnxruntime':
        from splitee_ros.runtime.exports import ensure_exported
        from splitee_ros.runtime.ort_backend import OnnxRuntimeBackend

        chosen = OnnxRuntimeBackend(ensure_exported(package, cache), device, threads=threads, **options)
    elif backend == 'tensorrt':
        from splitee_ros.runtime.exports import ensure_exported
        from splitee_ros.runtime.tensorrt_backend import TensorRTBackend

        chosen = TensorRTBackend(ensure_exported(package, cache), device, **options)
    elif backend == 'ray':
        from splitee_ros.runtime.exports import ensure_exported
        from splitee_ros.runtime.ray_backend import RayServeBackend

        chosen = RayServeBackend(ensure_exported(package, cache), **options)
    elif backend == 'triton':
        from splitee_ros.runtime.exports import ensure_exported
        from splitee_ros.runtime.triton_backend import TritonBackend

        chosen = TritonBackend(ensure_exported(package, cache), **{'prefix': package.folder.name, **options})
    else:
        raise ValueError(f'unknown backend {backend!r}; expected one of {list(BACKENDS + ENGINES)}')
    return SplitRuntime(chosen, role, full=full)
