# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""PyTorch backend: the package's modules in eval mode on CPU or CUDA, optionally replayed as CUDA graphs."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from splitee_ros.model.package import ModelPackage
from splitee_ros.runtime.spec import FULL_GRAPH, RuntimeSpec


class TorchSession:
    """A module run eagerly under `torch.inference_mode`."""

    def __init__(self, module: nn.Module, device: torch.device) -> None:
        """Keep `module` on `device`."""
        self.module = module.to(device).eval()
        self.device = device

    def run(self, value: np.ndarray) -> dict[str, np.ndarray]:
        """Run on a numpy input; outputs back to numpy."""
        with torch.inference_mode():
            outputs = self.module(torch.from_numpy(value).to(self.device))
        return {key: tensor.cpu().numpy() for key, tensor in outputs.items()}


class CudaGraphSession:
    """A module captured once as a CUDA graph for a batch of one, then replayed (no launch overhead).

    Other batch sizes run eagerly: a graph per batch size would hold its own memory for every size.
    """

    def __init__(self, module: nn.Module, device: torch.device, input_shape: tuple[int, ...]) -> None:
        """Warm up on a side stream, as CUDA graph capture requires, then capture."""
        self.module = module.to(device).eval()
        self.static_input = torch.zeros(input_shape, device=device)
        stream = torch.cuda.Stream(device)
        stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(stream), torch.inference_mode():
            for _ in range(3):
                self.module(self.static_input)
        torch.cuda.current_stream(device).wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.inference_mode():
            self.static_outputs = self.module(self.static_input)

    def run(self, value: np.ndarray) -> dict[str, np.ndarray]:
        """Copy the input in, replay, copy the outputs out."""
        if value.shape != self.static_input.shape:
            with torch.inference_mode():
                outputs = self.module(torch.from_numpy(value).to(self.static_input.device))
            return {key: tensor.cpu().numpy() for key, tensor in outputs.items()}
        self.static_input.copy_(torch.from_numpy(value))
        self.graph.replay()
        return {key: tensor.cpu().numpy() for key, tensor in self.static_outputs.items()}


class TorchBackend:
    """Runs a model package's head, tail and full graphs as PyTorch modules."""

    name = 'torch'

    def __init__(self, package: ModelPackage, device: str = 'cpu', threads: int = 0, cuda_graphs: bool = False) -> None:
        """Build the detector with its weights on `device` (`cpu`, `cuda` or `cuda:N`)."""
        self.device = device
        self._device = torch.device(device)
        if self._device.type == 'cuda' and not torch.cuda.is_available():
            raise RuntimeError(f'device {device!r} asked for, but this PyTorch sees no CUDA device')
        if cuda_graphs and self._device.type != 'cuda':
            raise ValueError('cuda_graphs needs a CUDA device')
        if threads:
            torch.set_num_threads(threads)
        self.cuda_graphs = cuda_graphs
        self.detector = package.detector().eval()
        self.spec = RuntimeSpec.from_detector(self.detector, package.model_id)

    def load(self, graph: str) -> TorchSession | CudaGraphSession:
        """The module of `graph` (`<split>.head`, `<split>.tail` or `full`)."""
        module: nn.Module
        shape: tuple[int, ...]
        if graph == FULL_GRAPH:
            module, shape = self.detector, (1, 3, *self.spec.input_size)
        else:
            split, side = graph.rsplit('.', 1)
            code_shape = self.spec.split(split).code_shape
            if side == 'head':
                module, shape = self.detector.head(split), (1, 3, *self.spec.input_size)
            elif side == 'tail':
                module, shape = self.detector.tail(split), code_shape
            else:
                raise ValueError(f'unknown graph {graph!r}')
        if self.cuda_graphs:
            return CudaGraphSession(module, self._device, shape)
        return TorchSession(module, self._device)
