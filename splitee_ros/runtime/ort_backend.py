# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""ONNX Runtime backend: the exported graphs on the CPU or CUDA execution provider, set up for low latency."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime

from splitee_ros.runtime.spec import RuntimeSpec

PROVIDERS = {'cpu': ['CPUExecutionProvider'], 'cuda': ['CUDAExecutionProvider', 'CPUExecutionProvider']}


def session_options(threads: int) -> onnxruntime.SessionOptions:
    """One request at a time, as fast as possible: all graph optimisations, sequential execution."""
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads  # 0: one per physical core
    options.inter_op_num_threads = 1
    return options


class OrtSession:
    """One InferenceSession; its single input fed by name."""

    def __init__(self, session: onnxruntime.InferenceSession) -> None:
        """Read the input and output names."""
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.output_names = [output.name for output in session.get_outputs()]

    def run(self, value: np.ndarray) -> dict[str, np.ndarray]:
        """Run on `value`."""
        outputs = self.session.run(self.output_names, {self.input_name: value})
        return dict(zip(self.output_names, outputs, strict=True))


class OnnxRuntimeBackend:
    """Runs the ONNX exports in `folder` (see `runtime.exports`)."""

    name = 'onnxruntime'

    def __init__(self, folder: str | Path, device: str = 'cpu', threads: int = 0) -> None:
        """Check that the execution provider for `device` (`cpu` or `cuda`) is available."""
        self.folder = Path(folder)
        self.device = device
        kind = device.split(':')[0]
        if kind not in PROVIDERS:
            raise ValueError(f'onnxruntime runs on cpu or cuda, not {device!r}')
        missing = set(PROVIDERS[kind][:1]) - set(onnxruntime.get_available_providers())
        if missing:
            raise RuntimeError(
                f'onnxruntime here has no {missing.pop()} (available: {onnxruntime.get_available_providers()}); '
                'install onnxruntime-gpu for device cuda'
            )
        self.providers: list[str | tuple[str, dict[str, int]]] = list(PROVIDERS[kind])
        if kind == 'cuda' and ':' in device:
            self.providers[0] = ('CUDAExecutionProvider', {'device_id': int(device.split(':')[1])})
        self.options = session_options(threads)
        self.spec = RuntimeSpec.load(self.folder)

    def load(self, graph: str) -> OrtSession:
        """Open `<folder>/<graph>.onnx`."""
        path = self.folder / f'{graph}.onnx'
        if not path.is_file():
            raise FileNotFoundError(f'{path}: no such graph in the export')
        return OrtSession(onnxruntime.InferenceSession(str(path), self.options, providers=self.providers))
