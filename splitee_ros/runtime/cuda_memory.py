# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""CUDA streams, device buffers and copies for the TensorRT backend, through cuda-python's runtime bindings.

The vehicle process needs no PyTorch for TensorRT: cuda-python (`pip install "splitee_ros[tensorrt]"`; 12.x on
JetPack 6's CUDA 12) allocates and copies, TensorRT runs the engines.
"""

from __future__ import annotations

import contextlib
from types import ModuleType
from typing import Any

import numpy as np


def cudart() -> ModuleType:
    """cuda-python's runtime API, or a RuntimeError that says how to get it."""
    try:
        from cuda.bindings import runtime as api
    except ImportError as error:
        raise RuntimeError(
            'the tensorrt backend needs cuda-python 12.6 or newer: pip install "splitee_ros[tensorrt]"'
        ) from error
    runtime: ModuleType = api
    return runtime


def call(result: tuple[Any, ...]) -> Any:
    """The value of a cuda-python call (`(error, value...)`), or a RuntimeError naming the CUDA error."""
    api = cudart()
    error, *values = result
    if error != api.cudaError_t.cudaSuccess:
        name = api.cudaGetErrorName(error)[1]
        raise RuntimeError(f'CUDA error {name.decode() if isinstance(name, bytes) else name}')
    return values[0] if len(values) == 1 else tuple(values) or None


def device_index(device: str) -> int:
    """The GPU index of 'cuda' or 'cuda:N'."""
    kind, _, index = device.partition(':')
    if kind != 'cuda' or not (index == '' or index.isdigit()):
        raise ValueError(f'a CUDA device is cuda or cuda:N, not {device!r}')
    return int(index or 0)


def device_name(index: int) -> str:
    """The GPU's name (part of the engine cache key)."""
    name = call(cudart().cudaGetDeviceProperties(index)).name
    return name.split(b'\0', 1)[0].decode() if isinstance(name, bytes) else str(name)


class Stream:
    """A CUDA stream on one GPU; the calling thread selects that GPU before it uses the stream."""

    def __init__(self, device: int) -> None:
        """Create the stream on GPU `device`."""
        self.device = device
        self.use()
        self.handle = call(cudart().cudaStreamCreate())

    def use(self) -> None:
        """Make this stream's GPU the calling thread's current device."""
        call(cudart().cudaSetDevice(self.device))

    def synchronize(self) -> None:
        """Wait for everything queued on the stream."""
        call(cudart().cudaStreamSynchronize(self.handle))


class DeviceBuffer:
    """Device memory for one tensor of up to `shape` (freed with the object)."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        """Allocate on the current device."""
        self.dtype = np.dtype(dtype)
        self.nbytes = int(np.prod(shape, dtype=np.int64)) * self.dtype.itemsize
        self.address = int(call(cudart().cudaMalloc(self.nbytes)))

    def upload(self, value: np.ndarray, stream: Stream) -> np.ndarray:
        """Queue a copy of `value` (host) into the start of the buffer; keep what it returns until a sync."""
        value = np.ascontiguousarray(value, self.dtype)
        if value.nbytes > self.nbytes:
            raise ValueError(f'{value.nbytes} bytes do not fit a device buffer of {self.nbytes}')
        kind = cudart().cudaMemcpyKind.cudaMemcpyHostToDevice
        call(cudart().cudaMemcpyAsync(self.address, value.ctypes.data, value.nbytes, kind, stream.handle))
        return value  # the copy reads it until the stream is synchronised

    def download(self, shape: tuple[int, ...], stream: Stream) -> np.ndarray:
        """Queue a copy of the buffer's first `shape` values to the host; valid after `stream.synchronize()`."""
        value = np.empty(shape, self.dtype)
        kind = cudart().cudaMemcpyKind.cudaMemcpyDeviceToHost
        call(cudart().cudaMemcpyAsync(value.ctypes.data, self.address, value.nbytes, kind, stream.handle))
        return value

    def __del__(self) -> None:
        """Return the memory (at interpreter exit CUDA may be gone already: nothing to do then)."""
        address = getattr(self, 'address', 0)
        if address:
            with contextlib.suppress(Exception):  # a finaliser must not raise; the driver frees at exit anyway
                cudart().cudaFree(address)
