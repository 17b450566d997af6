# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The vehicle process without PyTorch: head_node on ONNX Runtime codes with every codec, torch never loaded."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import DEMO_PACKAGE

from splitee_ros.data.synth import sample_frames
from splitee_ros.model.package import ModelPackage

# Runs in a fresh interpreter: the head node as launched (configure loads and warms the package), then
# every frame mode the node can be asked for, each payload decoded as the edge decodes it.
VEHICLE = """
import json, sys
from dataclasses import replace
import numpy as np
import rclpy
from rclpy.parameter import Parameter
from splitee_ros.codec.frame import FrameDecoder
from splitee_ros.model.package import ModelPackage
from splitee_ros.nodes.head_node import HeadNode
from splitee_ros.ros.lifecycle import autostart

package_folder, image_path = sys.argv[1:]
rclpy.init()
node = HeadNode(parameter_overrides=[Parameter('model', value=package_folder)])
assert autostart(node)  # configure (load and warm), activate
image = np.load(image_path)
package = ModelPackage.load(package_folder)
decoder = FrameDecoder(package.wire_spec())
learned_splits = package.manifest['codecs']['learned']['splits']
coded = []
for split in node.pipeline.runtime.split_names:
    for codec in sorted(node.pipeline.codecs):
        if codec.startswith('learned') and split not in learned_splits:
            continue
        settings = replace(node.settings, mode='split', split=split, codec=codec, exits_enabled=False)
        step = node.pipeline.step(image, settings, len(coded))
        frame = decoder.decode(step.payload)
        coded.append({'split': split, 'codec': codec, 'bytes': len(step.payload), 'shape': list(frame.tensor.shape),
                      'finite': bool(np.isfinite(frame.tensor).all())})
local = node.pipeline.step(image, replace(node.settings, mode='local'), len(coded))
offload = node.pipeline.step(image, replace(node.settings, mode='offload-image'), len(coded) + 1)
node.destroy_node()
rclpy.shutdown()
print(json.dumps({
    'coded': coded, 'local_outcome': local.outcome.value, 'offload_bytes': len(offload.payload),
    'torch_modules': sorted(name for name in sys.modules if name.split('.')[0] in ('torch', 'torchvision')),
    'compressai_modules': sorted(name for name in sys.modules if name.startswith('compressai')),
}))
"""


@pytest.mark.ros
def test_head_node_on_onnxruntime_codes_every_codec_without_torch(ros_env, runtime_cache, demo_exports, tmp_path):
    image_path = tmp_path / 'frame.npy'
    np.save(image_path, sample_frames(1, seed=5)[0])
    env = ros_env | {'SPLITEE_CACHE': str(runtime_cache)}  # the exports exist: made beforehand, as on a vehicle
    result = subprocess.run(
        [sys.executable, '-c', VEHICLE, DEMO_PACKAGE, str(image_path)],
        capture_output=True, text=True, env=env, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report['torch_modules'] == []
    assert report['compressai_modules'] == ['compressai.ans']  # the rANS extension alone
    codecs = {entry['codec'] for entry in report['coded']}
    assert {'learned', 'int8+zstd3', 'fp16'} <= codecs
    learned_splits = ModelPackage.load(DEMO_PACKAGE).manifest['codecs']['learned']['splits']
    assert sorted(entry['split'] for entry in report['coded'] if entry['codec'] == 'learned') == sorted(learned_splits)
    for entry in report['coded']:
        assert entry['finite'] and entry['bytes'] > 0, entry
    assert report['local_outcome'] == 'local' and report['offload_bytes'] > 0  # the whole model ran here
