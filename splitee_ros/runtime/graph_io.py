# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The tensors of an exported graph, as every engine that builds from or serves the ONNX files sees them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor of a graph or engine."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # numpy name, e.g. float32
    is_input: bool


def onnx_io(path: str | Path) -> list[TensorSpec]:
    """Inputs then outputs of an ONNX graph; a dynamic dimension (the batch) is -1."""
    import onnx
    from onnx import helper

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {init.name for init in graph.initializer}
    specs = []
    for values, is_input in ((graph.input, True), (graph.output, False)):
        for value in values:
            if value.name in initializers:
                continue
            tensor_type = value.type.tensor_type
            dims = tuple(dim.dim_value if dim.HasField('dim_value') else -1 for dim in tensor_type.shape.dim)
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)).name
            specs.append(TensorSpec(value.name, dims, dtype, is_input))
    return specs
