# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Every node parameter, declared once: name, default, description, range or choices, read-only or live, setting.

The nodes declare from these tables (`params.declare_table`), map a live change to the setting it tunes
(`params.setting_changes`), and a test checks `config/*.yaml` and the launch files against them. A default of
`PACKAGE_DEFAULT` comes from the model package's operating point; choices of `()` are the package's own (its
split points, its codecs), given when the node declares.
"""

from __future__ import annotations

from splitee_ros.control.latency import MODES
from splitee_ros.control.monitor import MonitorSettings
from splitee_ros.control.policy import OBJECTIVES, PolicySettings
from splitee_ros.ros.params import PACKAGE_DEFAULT, ParameterSpec
from splitee_ros.runtime.base import BACKENDS, ENGINES

MODEL_PARAMETERS = ('model', 'backend', 'device', 'threads')
PACKAGE_PARAMETERS = ('split_point', 'codec', 'exit_threshold')  # declared on configure, from the package loaded
AUTOSTART = ParameterSpec(
    'autostart', False, 'configure and activate at start (launch files drive the transitions instead)', read_only=True
)
_policy = PolicySettings()
_measuring = MonitorSettings()


def _model(backends: tuple[str, ...]) -> tuple[ParameterSpec, ...]:
    """The MODEL_PARAMETERS, with the backends a node can run."""
    return (
        ParameterSpec('model', 'splitee_demo', 'model package: a name under models/ or a folder', read_only=True),
        ParameterSpec('backend', 'onnxruntime', 'inference backend', read_only=True, choices=backends),
        ParameterSpec('device', 'cpu', 'cpu, cuda or cuda:N', read_only=True),
        ParameterSpec('threads', 0, 'intra-op threads (0: the backend decides)', read_only=True, value_range=(0, 64)),
    )


AUTHENTICATION = (
    ParameterSpec(
        'auth_key_file', '', "key file: seal and verify bottlenecks and results ('': off; `splitee keys new`)",
        read_only=True,
    ),
    ParameterSpec(
        'auth_window_s', 10.0, 'replay window: a message sent further than this from now is rejected', read_only=True,
        value_range=(0.1, 3600.0),
    ),
)  # fmt: skip


HEAD = (
    *_model(BACKENDS),
    AUTOSTART,
    *AUTHENTICATION,
    ParameterSpec('image_topics', ['image'], "the vehicle's cameras: one image topic each", read_only=True),
    ParameterSpec(
        'input_type', 'raw', 'raw: sensor_msgs/Image on each image topic; compressed: CompressedImage on '
        '`<topic>/compressed`', read_only=True, choices=('raw', 'compressed'),
    ),
    ParameterSpec('debug_image', False, 'publish ~/debug_image with boxes drawn', read_only=True),
    ParameterSpec(
        'image_queue_depth', 1, 'images per camera that may wait for inference; when full the oldest is dropped '
        '(1: newest only)', read_only=True, value_range=(1, 100),
    ),
    ParameterSpec(
        'mode', 'split', 'split, local (whole model here) or offload-image (JPEG to the edge)', choices=MODES,
        setting='mode',
    ),
    ParameterSpec(
        'split_point', PACKAGE_DEFAULT, "where the model is cut (default: the package's)", choices=(), setting='split'
    ),
    ParameterSpec('codec', PACKAGE_DEFAULT, "bottleneck codec (default: the package's)", choices=(), setting='codec'),
    ParameterSpec(
        'exit_threshold', PACKAGE_DEFAULT, "an exit at least this confident answers at once (default: the package's)",
        value_range=(0.0, 1.0), setting='exit_threshold',
    ),
    ParameterSpec('exits_enabled', True, 'take early exits', setting='exits_enabled'),
    ParameterSpec(
        'jpeg_quality', 80, 'JPEG quality in offload-image mode', value_range=(1, 100), setting='jpeg_quality'
    ),
    ParameterSpec('deadline_ms', 100.0, 'answer every frame within this time', value_range=(1.0, 10000.0)),
    ParameterSpec(
        'edge_lease_ms', 1000.0, "a dead edge is noticed within this time (the edge's liveliness lease must be "
        'shorter: results of writers that promise no liveliness are not heard)', read_only=True,
        value_range=(10.0, 60000.0),
    ),
    ParameterSpec(
        'exit_check_share', 0.05, 'share of the exits whose code also goes to the edge, to check them',
        value_range=(0.0, 1.0),
    ),
    ParameterSpec(
        'fallback_lead_max_ms', 20.0, 'fall back up to this much before the deadline: by how late the deadline '
        "thread's fallbacks have gone out after its planned wake-ups (their 95th percentile; this much until it "
        'has measured them), so that the fallback is on time',
        read_only=True, value_range=(0.0, 1000.0),
    ),
)  # fmt: skip

TAIL = (
    *_model(BACKENDS + ENGINES),
    AUTOSTART,
    *AUTHENTICATION,
    ParameterSpec('engine_address', '', 'ray: cluster address (auto); triton: host:port (gRPC)', read_only=True),
    ParameterSpec('engine_replicas', 1, 'ray: replicas of each graph', read_only=True, value_range=(1, 64)),
    ParameterSpec('max_batch', 8, 'most requests run as one batch', read_only=True, value_range=(1, 64)),
    ParameterSpec(
        'max_queue_delay_ms', 4.0, 'longest wait of a request for its batch to fill', read_only=True,
        value_range=(0.0, 1000.0),
    ),
    ParameterSpec('queue_capacity', 32, 'requests that may wait (all vehicles)', read_only=True, value_range=(1, 4096)),
    ParameterSpec('workers', 1, 'batches that run at once', read_only=True, value_range=(1, 16)),
    ParameterSpec(
        'max_payload_bytes', 4 << 20, 'larger messages are rejected', read_only=True, value_range=(1024, 1 << 30)
    ),
    ParameterSpec(
        'request_lifespan_ms', 0.0, 'a request older than this on arrival is dropped by DDS (0: none; the edge '
        'still refuses what cannot meet its budget)', read_only=True, value_range=(0.0, 600000.0),
    ),
    ParameterSpec(
        'liveliness_lease_ms', 500.0, "this edge asserts it is alive within this time (at most the vehicles' "
        'edge_lease_ms)',
        read_only=True, value_range=(10.0, 60000.0),
    ),
    ParameterSpec('vehicles', [''], "the vehicles' namespaces ('': this node's own)", read_only=True),
    ParameterSpec(
        'discover_vehicles', False, 'also serve vehicles whose bottleneck topic appears', read_only=True
    ),
)  # fmt: skip

MONITOR = (
    ParameterSpec('probe_hz', _measuring.probe_hz, 'RTT probes per second', read_only=True, value_range=(0.1, 100.0)),
    ParameterSpec(
        'probe_sizes', list(_measuring.probe_sizes),
        'the smallest measures RTT; goodput probes are sized within the range of the others (bytes)', read_only=True,
    ),
    ParameterSpec(
        'probe_share', _measuring.probe_share, 'all probes on the wire: at most this share of the link',
        read_only=True, value_range=(0.001, 1.0),
    ),
    ParameterSpec(
        'decision_period_s', _measuring.decision_period_s, 'time between decisions', read_only=True,
        value_range=(0.05, 60.0),
    ),
    ParameterSpec('window_s', _measuring.window_s, 'statistics window', read_only=True, value_range=(0.5, 120.0)),
    ParameterSpec('head_node', 'head_node', 'the head node (its ~/telemetry and parameters)', read_only=True),
    ParameterSpec('model', 'splitee_demo', 'model package whose profile.yaml to use', read_only=True),
    ParameterSpec('vehicle_profile', '', 'device profile of the vehicle ("": the first)', read_only=True),
    ParameterSpec('edge_profile', '', 'device profile of the edge ("": the vehicle\'s)', read_only=True),
    ParameterSpec('adaptation_enabled', True, "let the monitor set the head's parameters"),
    ParameterSpec(
        'deadline_ms', _policy.deadline_ms, "the head's deadline", value_range=(1.0, 10000.0), setting='deadline_ms'
    ),
    ParameterSpec(
        'target', _policy.target, 'required P(an answer by the deadline)', value_range=(0.01, 1.0), setting='target'
    ),
    ParameterSpec('objective', _policy.objective, 'accuracy or bandwidth', choices=OBJECTIVES, setting='objective'),
    ParameterSpec(
        'accuracy_floor', _policy.accuracy_floor, 'bandwidth objective: least on-time mAP@.5',
        value_range=(0.0, 1.0), setting='accuracy_floor',
    ),
    ParameterSpec(
        'hysteresis', _policy.hysteresis, 'gain needed to switch (mAP@.5, or share of bytes)',
        value_range=(0.0, 1.0), setting='hysteresis',
    ),
    ParameterSpec(
        'hit_margin', _policy.hit_margin, 'keep the current choice down to target - this', value_range=(0.0, 1.0),
        setting='hit_margin',
    ),
    ParameterSpec(
        'max_uplink_share', _policy.max_uplink_share,
        "the most of the goodput a new choice's frames may take at the head's frame rate (the current one is left "
        'past the whole goodput)', value_range=(0.01, 1.0),
        setting='max_uplink_share',
    ),
    ParameterSpec(
        'min_dwell_s', _policy.min_dwell_s, 'least time between changes', value_range=(0.0, 600.0),
        setting='min_dwell_s',
    ),
    ParameterSpec(
        'manual_hold_s', _policy.manual_hold_s, 'how long a hand-set value is held', value_range=(0.0, 86400.0),
        setting='manual_hold_s',
    ),
    ParameterSpec('modes', list(MODES), 'modes the policy may choose', setting='modes'),
)  # fmt: skip

TABLES = {'head_node': HEAD, 'tail_node': TAIL, 'monitor_node': MONITOR}
