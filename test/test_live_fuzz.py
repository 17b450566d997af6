# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Live fuzzing of tail_node's bottleneck input over DDS, valid requests interleaved.

The short run; the long one is `bench/live_fuzz.py`, which also follows the node's memory (not asserted here:
it still grows after warm-up, see bench/results/live_fuzz.md).
"""

import cv2
import numpy as np
import pytest
from conftest import DEMO_PACKAGE

from splitee_ros.data.synth import sample_frames
from splitee_ros.model.package import ModelPackage
from splitee_ros.pipeline.head import HeadPipeline, HeadSettings
from splitee_ros.pipeline.images import decode_image, encoded_size
from splitee_ros.runtime.base import make_runtime
from splitee_ros.tools.fuzz import decompression_bomb, fuzz_tail
from splitee_ros.tools.harness import Collector, NodeProcess, node_env


def valid_requests(cache) -> list[tuple[str, bytes]]:
    """Requests as head_node sends them: codes at both splits with two codecs, and a JPEG."""
    package = ModelPackage.load(DEMO_PACKAGE)
    head = HeadPipeline(make_runtime(DEMO_PACKAGE, 'onnxruntime', 'head', cache=cache),
                        {c.name: c for c in package.codecs().values()}, package.model_id)  # fmt: skip
    requests = []
    for index, image in enumerate(sample_frames(4, seed=77)):
        mode = 'offload-image' if index == 3 else 'split'
        settings = HeadSettings(mode=mode, split=('stage1', 'stage2')[index % 2],
                                codec=('int8+zstd3', 'learned')[index % 2], exits_enabled=False)  # fmt: skip
        step = head.step(image, settings, index + 1)
        requests.append((step.request.with_budget(30.0, 0.0).text(), step.payload))
    return requests


def test_images_are_sized_from_their_headers_before_they_decode():
    bomb = decompression_bomb()
    assert len(bomb) < 300_000 and encoded_size(bomb) == (16384, 16384)
    with pytest.raises(ValueError, match='at most'):
        decode_image(bomb)
    progressive = cv2.imencode('.jpg', np.zeros((40, 30, 3), np.uint8), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1]
    assert encoded_size(progressive.tobytes()) == (40, 30)
    for garbage in (b'', b'GIF89a....', b'\xff\xd8\xff\xe0\x00\x10', b'\x89PNG\r\n\x1a\n'):
        with pytest.raises(ValueError, match=r'PNG|JPEG'):
            decode_image(garbage)


@pytest.mark.ros
@pytest.mark.timeout(600)
def test_tail_node_serves_on_through_fuzzed_requests(ros_env, tmp_path, runtime_cache):
    valid = valid_requests(runtime_cache)
    domain = int(ros_env['ROS_DOMAIN_ID'])
    parameters = {'model': DEMO_PACKAGE, 'qos_overrides./splitee/bottleneck.subscription.reliability': 'reliable',
                  'qos_overrides./splitee/bottleneck.subscription.depth': 1000}  # fmt: skip
    tail = NodeProcess('tail_node', parameters, node_env(domain, runtime_cache), tmp_path)
    collector = Collector(domain)
    try:
        assert collector.wait_until_active(['tail_node'], 300), tail.log_tail()
        class_count = len(ModelPackage.load(DEMO_PACKAGE).config.class_names)
        report = fuzz_tail(collector, tail.process.pid, valid, class_count, messages=400, seed=1, rate_hz=100.0)
        assert tail.alive(), tail.log_tail()
        assert report.valid_unanswered == 0 and report.answered_twice == 0, report.as_dict()
        assert report.undecodable_answers == 0, report.as_dict()  # nothing non-finite was published
        assert report.answers['valid/rejected'] == 0, report.as_dict()
        assert report.answers['valid/ok'] >= 1, report.as_dict()
        rejected = report.answers['fuzzed/rejected']
        assert rejected >= 0.7 * sum(n for kind, n in report.sent.items() if kind != 'valid'), report.as_dict()
        assert sum(report.rejected_counted.values()) >= rejected, report.as_dict()  # each rejection counted
    finally:
        tail.stop()
        collector.close()
