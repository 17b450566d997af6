# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""head_node (vehicle): camera images → head → confident exit, or bottleneck to the edge; one result per frame.

One process serves the vehicle's cameras (`image_topics`): each camera's frames keep their own header and
frame_id, deadline and fallback, and the images waiting when the head is free run through the model as one
batch. Results of every camera go out on `perception/detections` (the header says which camera).

Threads: the image callbacks only queue the image (per camera, at most `image_queue_depth` wait; when full,
the oldest waiting image is dropped and counted, so by default each camera's newest image is always its
next); an inference thread runs the head on the next image of every camera that has one; a sender thread
publishes what goes to the edge (a publish can block while a slow uplink drains; a camera's payload still
unsent when its next is ready is superseded, and its frame falls back at once; one whose frame fell back
while it waited is not sent; the sender builds each sent frame's fallback, once); a deadline thread
sleeps until the earliest deadline and publishes the fallbacks that are due
(the Python switch interval is 1 ms, so it gets the interpreter within a millisecond of waking); the
edge-result callback runs in its own callback group on a multi-threaded executor, so nothing waits behind an
inference.

A request tells the edge the time the frame has left and the network round trip this head measured of late
(`pipeline.request`), so that the edge never computes a frame whose answer would come too late. The edge
answers with a result envelope (`codec.envelope`): the detections, or busy / expired / rejected, on which
the frame falls back at once rather than at its deadline. A bottleneck lives no longer than its deadline
(its QoS lifespan), and the edge's result writers assert their liveliness: when every edge that was alive is
lost (killed, or its link down past its lease), the frames waiting for it fall back at once, and new frames
answer with their fallback at once instead of being sent, until an edge is alive again.

With `auth_key_file` set, every request is sealed (`codec.auth`) and every answer must open with a key of the
file, for this vehicle and that very frame, once: anything else is counted by reason and ignored, so the
frame falls back at its deadline; the vehicle never publishes what it cannot verify.
"""

from __future__ import annotations

import contextlib
import functools
import math
import statistics
import sys
import threading
import time
from collections import deque
from dataclasses import replace

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup

try:  # Iron and later; Humble has them in qos_event
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # pragma: no cover - Humble
    from rclpy.qos_event import SubscriptionEventCallbacks
from sensor_msgs.msg import CompressedImage, Image
from vision_msgs.msg import Detection2DArray

from splitee_ros.codec.auth import AUTH_REASONS, REQUEST, RESULT, Authenticator, AuthError
from splitee_ros.codec.envelope import EnvelopeError, Status, decode_envelope
from splitee_ros.control.latency import MODES
from splitee_ros.model.postprocess import Detections, agreement
from splitee_ros.pipeline.frames import DispatchLead, LiveEdges, Outcome, Pending, PendingFrames
from splitee_ros.pipeline.head import HeadPipeline, HeadSettings
from splitee_ros.pipeline.request import RequestFormat
from splitee_ros.ros import qos
from splitee_ros.ros.convert import (
    compressed_to_bgr,
    detections_to_msg,
    image_to_bgr,
    load_cv_bridge,
    message_context,
)
from splitee_ros.ros.executor import spin
from splitee_ros.ros.lifecycle import ManagedNode
from splitee_ros.ros.parameter_table import HEAD, MODEL_PARAMETERS, PACKAGE_PARAMETERS
from splitee_ros.ros.params import (
    declare_table,
    load_authenticator,
    load_model,
    partition,
    refresh_keys,
    setting_changes,
)
from splitee_ros.ros.qos import BOTTLENECK_TOPIC, RESULT_TOPIC
from splitee_ros.ros.telemetry import RecentProblems, frame_key, frame_status, health
from splitee_ros.ros.threads import named_thread, report_worker_error

SWITCH_INTERVAL_S = 0.001  # a thread that waits for the interpreter waits at most this long (Python's: 5 ms)
# an exit's check waits this long for the edge: nothing waits on it, and with its frame's deadline the edge
# would refuse most checks of a slow head as expired
EXIT_CHECK_WAIT_S = 1.0
LINK_SAMPLES = 16  # recent network round trips whose median a request reports as its link_ms


class HeadNode(ManagedNode):
    """The vehicle side of split computing with early exits (a managed node: configure loads, activate serves)."""

    def __init__(self, **kwargs) -> None:
        """Declare the parameters (those that depend on the package on configure), health and telemetry."""
        super().__init__('head_node', **kwargs)
        values = declare_table(self, partition(HEAD, PACKAGE_PARAMETERS)[1])
        self.image_topics, self.input_type = values['image_topics'], values['input_type']
        if not self.image_topics or len(set(self.image_topics)) != len(self.image_topics):
            raise ValueError(f'image_topics must name each camera once, not {self.image_topics}')
        self.debug_image = values['debug_image']
        self.queue_depth = values['image_queue_depth']  # per camera
        self.deadline_s = values['deadline_ms'] / 1e3
        self.exit_check_share = values['exit_check_share']
        self.lead = DispatchLead(values['fallback_lead_max_ms'] / 1e3)
        self.edge_lease_s = values['edge_lease_ms'] / 1e3
        self.auth_values = {name: values[name] for name in ('auth_key_file', 'auth_window_s')}
        self.auth: Authenticator | None = None  # on configure, with auth_key_file
        self._exit_check_credit = 0.0
        self.pipeline: HeadPipeline | None = None  # loaded on configure
        self.settings: HeadSettings | None = None
        self.class_names: list[str] = []
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self.pending: PendingFrames[Detection2DArray] = PendingFrames()
        self.problems = RecentProblems(('fallback', 'late', 'dropped', 'rejected', 'thread_errors', *AUTH_REASONS))
        self.sequence = 0
        self._waiting: list[deque[tuple]] = [deque() for _ in self.image_topics]  # per camera: (message, received)
        self._slot_ready = threading.Condition()
        # per camera, the payload waiting for the sender: (message, its format, its frame's deadline)
        self._outbox: dict[int, tuple[CompressedImage, RequestFormat, Pending]] = {}
        self._round_trips: deque[float] = deque(maxlen=LINK_SAMPLES)  # seconds on the network, recent replies
        self._outbox_ready = threading.Condition()
        self._deadline_wake = threading.Condition()
        self.superseded = 0
        self.expired_unsent = 0  # payloads whose frame fell back before the sender got to them
        self.edges = LiveEdges()  # live edge result writers
        self._publish_lock = threading.Lock()  # the bottleneck publisher is replaced when the deadline changes
        self.checks_skipped = 0  # exit checks not sent: the uplink was busy with a frame
        self._running = False
        self._serving: list = []  # what activate created: subscriptions
        self._threads: list[threading.Thread] = []
        self.bridge = load_cv_bridge()
        self.telemetry_pub = self.create_publisher(DiagnosticStatus, '~/telemetry', qos.TELEMETRY)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(1.0, self.report_health, callback_group=MutuallyExclusiveCallbackGroup())
        self.create_timer(
            1.0,
            lambda: refresh_keys(self, self.auth, self.pending.counts),
            callback_group=MutuallyExclusiveCallbackGroup(),
        )

    def load(self) -> None:
        """Read the key file; load and warm every split's head and the whole model (the package gives defaults)."""
        self.auth = load_authenticator(self.auth_values)
        values = {name: self.get_parameter(name).value for name in MODEL_PARAMETERS}
        package, runtime = load_model(values, 'head')
        codecs = {codec.name: codec for codec in package.codecs().values()}
        splits, defaults = runtime.split_names, package.defaults
        if self.has_parameter(PACKAGE_PARAMETERS[0]):  # configured before: declared then
            values = {name: self.get_parameter(name).value for name in PACKAGE_PARAMETERS}
        else:
            values = declare_table(
                self,
                partition(HEAD, PACKAGE_PARAMETERS)[0],
                defaults={
                    'split_point': defaults.get('split', splits[-1]),
                    'codec': defaults.get('codec', 'int8+zstd3'),
                    'exit_threshold': float(defaults.get('exit_threshold', 0.8)),
                },
                choices={'split_point': tuple(splits), 'codec': tuple(sorted(codecs))},
            )
        live = {spec.name: self.get_parameter(spec.name).value for spec in HEAD if spec.setting}
        pipeline = HeadPipeline(runtime, codecs, package.model_id)
        settings = HeadSettings(**setting_changes(HEAD, live | values))
        pipeline.check(settings)
        self.pipeline, self.settings, self.class_names = pipeline, settings, list(package.config.class_names)
        overrides = qos.overridable()
        self.detections_pub = self.create_publisher(
            Detection2DArray, 'perception/detections', qos.DETECTIONS, qos_overriding_options=overrides
        )
        self.bottleneck_pub = self._bottleneck_publisher()
        self.debug_pub = self.create_publisher(Image, '~/debug_image', qos.IMAGE) if self.debug_image else None
        backend = f'{runtime.backend.name}/{runtime.backend.device}'
        self.get_logger().info(
            f'{package.folder.name} on {backend}: splits {splits} warm, mode {settings.mode}, '
            f'split {settings.split}, codec {settings.codec}, deadline {self.deadline_s * 1e3:.0f} ms'
        )

    def _bottleneck_publisher(self):
        """The publisher of requests: a request lives as long as its frame's deadline (QoS lifespan)."""
        profile = qos.with_lifespan(qos.BOTTLENECK, self.deadline_s)
        return self.create_publisher(
            CompressedImage, BOTTLENECK_TOPIC, profile, qos_overriding_options=qos.overridable()
        )

    def start(self) -> None:
        """Subscribe to the cameras and the edge's answers; start the inference, sender and deadline threads."""
        overrides = qos.overridable()
        image_type, suffix = (Image, '') if self.input_type == 'raw' else (CompressedImage, '/compressed')
        self._serving = [
            self.create_subscription(
                image_type,
                f'{topic}{suffix}',
                functools.partial(self._on_image, camera),
                qos.IMAGE,
                qos_overriding_options=overrides,
                callback_group=MutuallyExclusiveCallbackGroup(),
            )
            for camera, topic in enumerate(self.image_topics)
        ]
        self._serving.append(
            self.create_subscription(
                CompressedImage,
                RESULT_TOPIC,
                self._on_edge_result,
                qos.with_liveliness(qos.DETECTIONS, self.edge_lease_s),
                qos_overriding_options=overrides,
                callback_group=MutuallyExclusiveCallbackGroup(),
                event_callbacks=SubscriptionEventCallbacks(liveliness=self._on_edge_liveliness),
            )
        )
        self.edges = LiveEdges()  # until this subscription hears of the edges' liveliness
        self._running = True
        self._threads = [
            named_thread(loop, name, functools.partial(report_worker_error, self, self.pending.counts))
            for loop, name in ((self._deadline_loop, 'head-deadlines'), (self._inference_loop, 'head-inference'),
                               (self._send_loop, 'head-sender'))
        ]  # fmt: skip
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Unsubscribe and stop the threads; frames still waiting for the edge get their fallback now.

        Not after Ctrl-C: rclpy's signal handler has shut the context down by then, and nothing can be published.
        """
        for subscription in self._serving:
            self.destroy_subscription(subscription)
        self._serving = []
        self._running = False
        for ready in (self._slot_ready, self._outbox_ready, self._deadline_wake):
            with ready:
                ready.notify_all()
        for thread in self._threads:
            thread.join(timeout=5.0)
        with self._slot_ready:
            for waiting in self._waiting:
                waiting.clear()
        self._outbox.clear()
        left = self.pending.expire(math.inf)
        if self.context.ok():
            for pending in left:
                self._fall_back(pending)

    def free(self) -> None:
        """Drop the model and the publishers of results."""
        for publisher in (self.detections_pub, self.bottleneck_pub, self.debug_pub):
            if publisher is not None:
                self.destroy_publisher(publisher)
        self.pipeline = self.settings = None
        self.auth = None

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        values = {p.name: p.value for p in parameters}
        if self.pipeline is None or self.settings is None:  # not configured: configure checks the whole setting
            mode = values.get('mode', MODES[0])
            if mode not in MODES:
                return SetParametersResult(successful=False, reason=f'mode must be one of {list(MODES)}, not {mode!r}')
            return SetParametersResult(successful=True)
        candidate = replace(self.settings, **setting_changes(HEAD, values))
        try:
            self.pipeline.check(candidate)
        except ValueError as error:
            return SetParametersResult(successful=False, reason=str(error))
        self.settings = candidate  # the next frame runs with it
        if 'deadline_ms' in values and float(values['deadline_ms']) / 1e3 != self.deadline_s:
            self.deadline_s = float(values['deadline_ms']) / 1e3
            with self._publish_lock:  # the requests' lifespan follows the deadline (a new writer: set only on change)
                self.destroy_publisher(self.bottleneck_pub)
                self.bottleneck_pub = self._bottleneck_publisher()
        if 'exit_check_share' in values:
            self.exit_check_share = float(values['exit_check_share'])
        return SetParametersResult(successful=True)

    def _on_image(self, camera: int, msg) -> None:
        """Queue a camera's image; when `image_queue_depth` of its images already wait, the oldest is dropped."""
        with self._slot_ready:
            waiting = self._waiting[camera]
            if len(waiting) >= self.queue_depth:
                stale, _ = waiting.popleft()
                self._drop(stale.header, 'queue_full')
            waiting.append((msg, time.monotonic()))
            self._slot_ready.notify()

    def _inference_loop(self) -> None:
        while self._running:
            with self._slot_ready:
                while not any(self._waiting) and self._running:
                    self._slot_ready.wait(0.1)
                if not self._running:
                    return
                batch = [(camera, *waiting.popleft()) for camera, waiting in enumerate(self._waiting) if waiting]
            frames = []
            for camera, msg, received in batch:  # a frame whose image does not decode is rejected alone
                if time.monotonic() >= received + self.deadline_s:  # it waited past its deadline: no answer is due
                    self._drop(msg.header, 'expired_in_queue')
                    continue
                try:
                    image = (
                        compressed_to_bgr(msg) if isinstance(msg, CompressedImage) else image_to_bgr(msg, self.bridge)
                    )
                    frames.append((camera, msg.header, received, image))
                except Exception as error:
                    self._reject(msg.header, error)
            try:
                if frames:
                    self._process(frames)
            except Exception as error:  # one bad batch must not stop the node
                for _, header, _, _ in frames:
                    self._reject(header, error)

    def _drop(self, header, reason: str, info: dict | None = None) -> None:
        """A frame that gets no detections message (an empty one would say "nothing there"): counted by reason.

        `info` is what the vehicle did on it (the head's time measures the vehicle even so).
        """
        self.pending.count(Outcome.DROPPED)
        self.pending.counts[f'dropped_{reason}'] += 1
        self._telemetry(frame_key(header), Outcome.DROPPED, {**(info or {}), 'reason': reason})

    def _reject(self, header, error: Exception) -> None:
        self.pending.count(Outcome.REJECTED)
        self.pending.counts[f'rejected_image_{getattr(error, "reason", "internal")}'] += 1
        self._telemetry(frame_key(header), Outcome.REJECTED, {'reason': str(error)[:200]})
        self.get_logger().warning(f'frame rejected: {error}', throttle_duration_sec=5.0)

    def _process(self, frames: list[tuple]) -> None:
        """Run the head on one image of each camera that had one: (camera, header, time received, image)."""
        settings, pipeline = self.settings, self.pipeline
        if settings is None or pipeline is None:  # the threads run from activate to deactivate: never here
            raise RuntimeError('head_node is not configured')
        sequences = [self.sequence + 1 + index for index in range(len(frames))]
        self.sequence += len(frames)
        checks = [self._exit_check_due() for _ in frames]
        steps = pipeline.steps([frame[3] for frame in frames], settings, sequences, checks)
        for (camera, header, received, image), step in zip(frames, steps, strict=True):
            self._answer_or_send(camera, header, received, image, step)

    def _answer_or_send(self, camera: int, header, received: float, image, step) -> None:
        """Publish a frame's exit or local result, or send its payload to the edge and keep its fallback ready."""
        key = frame_key(header)
        if step.outcome is not None:
            if not self._running:
                return
            answer = detections_to_msg(step.detections, header, self.class_names)
            self._publish(answer, key, step.outcome, received, step.info, image)
            if step.payload:  # an exit checked by the edge: no fallback, the edge's answer is compared
                due = received + max(self.deadline_s, EXIT_CHECK_WAIT_S)
                check = Pending(key, time.monotonic(), due, Detections.empty, step.info, {'exit': step.detections},
                                check=True)  # fmt: skip
                self._send(camera, check, header, step)
            return
        if time.monotonic() >= received + self.deadline_s:  # the head overran the deadline: its fallback would
            self._drop(header, 'expired_in_head', step.info)  # be late and the edge's answer later still
            return
        fallback = step.fallback
        pending = Pending(
            key,
            time.monotonic(),
            received + self.deadline_s,
            functools.cache(lambda: detections_to_msg(fallback(), header, self.class_names)),
            step.info,
            {'received': received, 'image': image if self.debug_pub else None, 'header': header},
        )
        if self.edges.count == 0:  # every edge was lost: answer now rather than send and wait for the deadline
            self.pending.count(Outcome.FALLBACK)
            self._fall_back(replace(pending, info={**pending.info, 'reason': 'no live edge'}))
            return
        self._send(camera, pending, header, step)

    def _exit_check_due(self) -> bool:
        """Whether the next frame that exits is also checked by the edge (`exit_check_share` of them)."""
        self._exit_check_credit += self.exit_check_share
        if self._exit_check_credit < 1.0:
            return False
        self._exit_check_credit -= 1.0
        return True

    def _send(self, camera: int, pending: Pending, header, step) -> None:
        """Register `pending` (before sending: the edge may answer at once) and hand its payload to the sender.

        A camera's payload still unsent is superseded by its next frame's, never by an exit check's (the check
        is skipped); the superseded frame is due at once, so the deadline thread publishes its fallback now.
        """
        with self._outbox_ready:
            if pending.check and (camera in self._outbox or self.edges.count == 0):
                self.checks_skipped += 1
                return
            for overflow in self.pending.add(pending):
                self._fall_back(overflow)
            if camera in self._outbox:
                self.superseded += 1
                self.pending.due_now(self._outbox[camera][2].key, time.monotonic())
            message = CompressedImage(header=header, data=step.payload)
            self._outbox[camera] = (message, step.request, pending)
            self._outbox_ready.notify()
        with self._deadline_wake:  # the deadline thread may sleep past this frame's deadline (none was waiting)
            self._deadline_wake.notify()

    def _send_loop(self) -> None:
        """Publish the waiting payloads, the earliest deadline first, each with the time its frame has left.

        A frame's round trip counts from here: the wait for this thread is the vehicle's, not the link's.
        """
        while self._running:
            with self._outbox_ready:
                while not self._outbox and self._running:
                    self._outbox_ready.wait(0.1)
                if not self._outbox:
                    continue
                camera = min(self._outbox, key=lambda c: self._outbox[c][2].deadline)
                msg, request, pending = self._outbox.pop(camera)
            if not self.pending.waiting(pending.key):  # it fell back while it waited here: no answer is due
                self.expired_unsent += 1
                continue
            if self._running:
                link_s = statistics.median(self._round_trips) if self._round_trips else 0.0
                msg.format = request.with_budget(pending.deadline - time.monotonic(), link_s).text()
                if self.auth is not None:
                    context = message_context(REQUEST, self.get_namespace(), msg.header, msg.format)
                    msg.data = self.auth.seal(bytes(msg.data), context)
                with self._publish_lock:
                    pending.sent_at = time.monotonic()
                    self.bottleneck_pub.publish(msg)
                if not pending.check:
                    self._prepare_fallback(pending)

    @staticmethod
    def _prepare_fallback(pending: Pending) -> None:
        """Build a sent frame's fallback message now (it is cached), so that at its deadline it is only published.

        Here, not on the model's thread, which a slow accelerator holds; a failure shows when it is published.
        """
        with contextlib.suppress(Exception):
            pending.fallback()

    def _on_edge_result(self, msg: CompressedImage) -> None:
        data = bytes(msg.data)
        if self.auth is not None:
            try:
                data = self.auth.open(data, message_context(RESULT, self.get_namespace(), msg.header, msg.format),
                                      'edge')  # fmt: skip
            except AuthError as error:  # not the edge's: counted, never published; the frame waits on
                self.pending.counts[error.reason] += 1
                self.get_logger().warning(f'edge result rejected: {error}', throttle_duration_sec=5.0)
                return
        try:
            answer = decode_envelope(data, len(self.class_names))
        except EnvelopeError as error:  # not the edge's envelope, or damaged: counted, the frame waits on
            self.pending.counts[f'rejected_result_{error.reason}'] += 1
            self.get_logger().warning(f'edge result rejected: {error}', throttle_duration_sec=5.0)
            return
        refused = answer.status is not Status.OK
        outcome, frame = self.pending.resolve(frame_key(msg.header), refused=refused)
        if frame is None:
            return
        rtt_s = time.monotonic() - frame.sent_at
        self._round_trips.append(max(0.0, rtt_s - answer.edge_ms / 1e3))
        info = {**frame.info, 'edge_rtt_ms': rtt_s * 1e3, 'edge_queue_ms': answer.queue_ms,
                'edge_compute_ms': answer.compute_ms}  # fmt: skip
        if refused:
            info |= {'edge_status': answer.status.name.lower(), **({'reason': answer.detail} if answer.detail else {})}
        if outcome is Outcome.FALLBACK:  # the edge will not answer it: the fallback now, not at the deadline
            self._fall_back(replace(frame, info=info))
        elif outcome is Outcome.EDGE and frame.check:  # the frame's exit answered it: how far do they agree?
            self._telemetry(
                frame.key,
                Outcome.EXIT_CHECK,
                {**info, 'agreement': agreement(frame.context['exit'], answer.detections)},
            )
        elif outcome is Outcome.EDGE:
            result = detections_to_msg(answer.detections, frame.context['header'], self.class_names)
            self._publish(result, frame.key, Outcome.EDGE, frame.context['received'], info, frame.context['image'])
        else:  # late: published nothing, but its round trip and bytes still measure the link
            self._telemetry(frame.key, Outcome.LATE, info)

    def _on_edge_liveliness(self, info) -> None:
        """The edge's result writers came alive or were lost; when the last is lost, fall back now."""
        if not self.edges.update(info.alive_count):
            return
        self.pending.counts['edge_lost'] += 1
        self.get_logger().warning('no live edge: falling back at once until one is alive again')
        for pending in self.pending.expire(math.inf):
            self._fall_back(replace(pending, info={**pending.info, 'reason': 'no live edge'}))

    def _deadline_loop(self) -> None:
        """Sleep until the earliest deadline, less the lead (steady-clock time, also under use_sim_time)."""
        while self._running:
            due = self.pending.next_deadline()
            wake_at = None if due is None else due - self.lead.lead_s
            with self._deadline_wake:
                notified = self._deadline_wake.wait(0.1 if wake_at is None else max(0.0, wake_at - time.monotonic()))
            now = time.monotonic()
            for pending in self.pending.expire(now + self.lead.lead_s):
                self._fall_back(pending)
            if wake_at is not None and not notified and now >= wake_at:
                self.lead.record(time.monotonic() - wake_at)  # how late its fallbacks went out

    def _fall_back(self, pending: Pending) -> None:
        """Publish a frame's local result at its deadline; an empty result if even that fails (never none)."""
        if pending.check:
            return  # its exit answered it already
        info = dict(pending.info)
        received, image, header = (pending.context[name] for name in ('received', 'image', 'header'))
        try:
            msg = pending.fallback()
        except Exception as error:  # the frame still gets its one result
            msg = Detection2DArray(header=header)
            info['reason'] = f'fallback failed: {error}'[:200]
        self._publish(msg, pending.key, Outcome.FALLBACK, received, info, image)

    def _publish(self, msg: Detection2DArray, key, outcome: Outcome, received: float, info: dict, image) -> None:
        self.detections_pub.publish(msg)
        if outcome in (Outcome.EXIT, Outcome.LOCAL):
            self.pending.count(outcome)
        self._telemetry(
            key, outcome, {**info, 'latency_ms': (time.monotonic() - received) * 1e3, 'detections': len(msg.detections)}
        )
        if self.debug_pub is not None and image is not None:
            from splitee_ros.ros.debug import draw_detections

            self.debug_pub.publish(draw_detections(image, msg, self.class_names))

    def _telemetry(self, key, outcome: Outcome, values: dict) -> None:
        self.telemetry_pub.publish(frame_status(self.get_name(), key, outcome.value, values))

    def report_health(self) -> None:
        """Counters and settings at 1 Hz; ERROR with the reason while the last configure failed."""
        counts = dict(self.pending.counts)
        settings = self.settings
        values: dict[str, object] = {
            'active': self.active,
            'waiting_for_edge': len(self.pending),
            'superseded_unsent': self.superseded,
            'expired_unsent': self.expired_unsent,
            'exit_checks_skipped': self.checks_skipped,
            'deadline_lead_ms': round(self.lead.lead_s * 1e3, 2),
            'edges_alive': 'unknown' if self.edges.count is None else self.edges.count,
            **counts,
        }
        values |= self.auth.health() if self.auth is not None else {'auth': 'off'}
        if settings is not None:
            values |= {'mode': settings.mode, 'split_point': settings.split, 'codec': settings.codec,
                       'exit_threshold': settings.exit_threshold}  # fmt: skip
        level, message = self.problems.check(counts)
        if self.configure_error:
            level, message = DiagnosticStatus.ERROR, self.configure_error
        self.diagnostics_pub.publish(health(self, 'splitee: head_node', level, message, values))


def main(args: list[str] | None = None) -> None:
    """Run head_node until shut down."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    spin(HeadNode, args)


if __name__ == '__main__':
    main()
