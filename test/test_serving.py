# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The edge's graphs on serving engines: a Triton model repository, and Ray Serve deployments, live.

Triton's own server cannot serve these models here: the `tritonserver` 2.51 bundled in PyPI's
`nvidia-pytriton` 0.7 starts on this CPU, but it carries only the Python backend (no onnxruntime or TensorRT
backend for the repository `export-triton` writes), and its Python stub returns empty outputs with the numpy 2
of this environment (it works with numpy<2; measured). So Triton's path is tested at its two interfaces: every
`config.pbtxt` parses as Triton's own `ModelConfig` (from `tritonclient`), and `TritonBackend` runs against a
server speaking Triton's gRPC protocol (KServe v2, from `tritonclient`'s service definition) with onnxruntime
behind it. Ray Serve runs for real: a cluster started by the test, the graphs deployed on it.
"""

from concurrent import futures

import grpc
import numpy as np
import pytest
from conftest import DEMO_PACKAGE
from google.protobuf import text_format
from test_runtime import assert_same_detections

from splitee_ros.data.synth import sample_frames
from splitee_ros.model.package import ModelPackage
from splitee_ros.runtime.base import SplitRuntime, make_runtime
from splitee_ros.runtime.graph_io import onnx_io
from splitee_ros.runtime.ort_backend import OrtSession, session_options
from splitee_ros.runtime.triton_backend import MODEL_ID_PARAMETER, RepositorySettings, TritonBackend, write_repository

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope='module')
def reference(runtime_cache):
    """The edge's graphs in this process, and camera frames with the codes their heads make."""
    runtime = make_runtime(DEMO_PACKAGE, 'onnxruntime', 'both', full=True, threads=1, cache=runtime_cache)
    frames = sample_frames(3, seed=4500)
    split = runtime.split_names[-1]
    codes = [runtime.run_head(split, frame).code for frame in frames]
    return runtime, frames, split, codes


def assert_serves_like(engine: SplitRuntime, reference) -> None:
    runtime, frames, split, codes = reference
    sizes = [frame.shape[:2] for frame in frames]
    for served, local in zip(
        engine.run_tails(split, codes, sizes), runtime.run_tails(split, codes, sizes), strict=True
    ):
        assert_same_detections(served, local, box_px=1e-2, score=1e-4)
    assert_same_detections(engine.run_full(frames[0]), runtime.run_full(frames[0]), box_px=1e-2, score=1e-4)


def test_the_triton_repository_is_what_triton_reads(demo_exports, tmp_path):
    from tritonclient.grpc import model_config_pb2

    settings = RepositorySettings(max_batch=8, max_queue_delay_us=2000, instances=2, kind='gpu')
    names = write_repository(demo_exports, tmp_path, 'splitee_demo', settings)
    package = ModelPackage.load(DEMO_PACKAGE)
    assert sorted(names) == sorted([*(f'splitee_demo__{s}_tail' for s in package.split_names), 'splitee_demo__full'])
    for name in names:
        config = text_format.Parse((tmp_path / name / 'config.pbtxt').read_text(), model_config_pb2.ModelConfig())
        graph = name.split('__')[1].replace('_tail', '.tail')
        tensors = onnx_io(demo_exports / f'{graph}.onnx')
        assert (config.name, config.platform, config.max_batch_size) == (name, 'onnxruntime_onnx', 8)
        assert [(t.name, tuple(t.dims)) for t in config.input] == [(t.name, t.shape[1:]) for t in tensors if t.is_input]
        assert [(t.name, tuple(t.dims)) for t in config.output] == [
            (t.name, t.shape[1:]) for t in tensors if not t.is_input
        ]
        assert all(t.data_type == model_config_pb2.TYPE_FP32 for t in [*config.input, *config.output])
        assert config.dynamic_batching.max_queue_delay_microseconds == 2000
        assert list(config.dynamic_batching.preferred_batch_size) == [4, 8]
        group = config.instance_group[0]
        assert (group.count, group.kind) == (2, model_config_pb2.ModelInstanceGroup.KIND_GPU)
        assert config.parameters[MODEL_ID_PARAMETER].string_value == package.model_id.hex()
        assert (tmp_path / name / '1' / 'model.onnx').read_bytes() == (demo_exports / f'{graph}.onnx').read_bytes()
    with pytest.raises(ValueError, match='kind in'):
        RepositorySettings(kind='tpu')


class KServeServer:
    """A server that speaks Triton's gRPC protocol for a model repository, running the models with onnxruntime."""

    def __init__(self, repository) -> None:
        """Read every model's config, open its graph, listen on a free port."""
        from tritonclient.grpc import model_config_pb2, service_pb2, service_pb2_grpc

        self.pb = service_pb2
        self.configs = {
            folder.name: text_format.Parse((folder / 'config.pbtxt').read_text(), model_config_pb2.ModelConfig())
            for folder in repository.iterdir()
        }
        import onnxruntime

        self.sessions = {
            name: OrtSession(
                onnxruntime.InferenceSession(str(repository / name / '1' / 'model.onnx'), session_options(1))
            )
            for name in self.configs
        }
        server = self

        class Servicer(service_pb2_grpc.GRPCInferenceServiceServicer):
            def ModelReady(self, request, context):  # noqa: N802 - the protocol's names
                return server.pb.ModelReadyResponse(ready=request.name in server.configs)

            def ModelConfig(self, request, context):  # noqa: N802 - the protocol's names
                return server.pb.ModelConfigResponse(config=server.configs[request.name])

            def ModelInfer(self, request, context):  # noqa: N802 - the protocol's names
                return server.infer(request)

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(Servicer(), self.server)
        self.port = self.server.add_insecure_port('127.0.0.1:0')
        self.server.start()

    def infer(self, request):
        """ModelInfer: raw FP32 contents in and out, as tritonclient sends and reads them."""
        (tensor,) = request.inputs
        value = np.frombuffer(request.raw_input_contents[0], np.float32).reshape(tuple(tensor.shape))
        outputs = self.sessions[request.model_name].run(value)
        response = self.pb.ModelInferResponse(model_name=request.model_name, id=request.id)
        for wanted in request.outputs:
            array = np.ascontiguousarray(outputs[wanted.name], np.float32)
            response.outputs.add(name=wanted.name, datatype='FP32', shape=list(array.shape))
            response.raw_output_contents.append(array.tobytes())
        return response


def test_triton_backend_runs_the_repository_over_triton_grpc(demo_exports, tmp_path, reference):
    write_repository(demo_exports, tmp_path, 'splitee_demo', RepositorySettings(kind='cpu'))
    server = KServeServer(tmp_path)
    try:
        engine = SplitRuntime(
            TritonBackend(demo_exports, f'127.0.0.1:{server.port}', 'splitee_demo'), 'tail', full=True
        )
        assert_serves_like(engine, reference)
        foreign = TritonBackend(demo_exports, f'127.0.0.1:{server.port}', 'splitee_demo')
        foreign.spec = type(foreign.spec)(**{**foreign.spec.__dict__, 'model_id': '00' * 8})
        with pytest.raises(RuntimeError, match='is of model'):
            foreign.load('full')
        with pytest.raises(RuntimeError, match='no ready model'):
            TritonBackend(demo_exports, f'127.0.0.1:{server.port}', 'other').load('full')
    finally:
        server.server.stop(None)


def test_ray_serve_deployments_run_the_edges_graphs(demo_exports, ray_cluster, reference):
    from ray import serve

    from splitee_ros.runtime.ray_backend import RayServeBackend, application_name

    backend = RayServeBackend(demo_exports, ray_cluster, replicas=2, threads=1)
    engine = SplitRuntime(backend, 'tail', full=True)
    assert_serves_like(engine, reference)
    status = serve.status().applications
    name = application_name(backend.spec.model_id, 'full')
    deployment = next(iter(status[name].deployments.values()))
    assert sum(deployment.replica_states.values()) == 2  # two replicas of each graph
    again = SplitRuntime(RayServeBackend(demo_exports, ray_cluster, replicas=2), 'tail', full=True)
    assert_serves_like(again, reference)  # a second gateway uses the running deployments
