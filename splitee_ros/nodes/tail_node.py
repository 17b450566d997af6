# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""tail_node (edge): one process for a fleet; requests from every vehicle, batched, answered on each one's topic.

Each vehicle runs in its own namespace (`/veh_3/...`); the edge subscribes to `<vehicle>/splitee/bottleneck`
and answers on `<vehicle>/splitee/edge/result` with a result envelope (`codec.envelope`: ok with the
detections, busy, expired or rejected) that carries the request's header, so answers never cross vehicles.
Vehicles are named by the `vehicles` parameter (namespaces; '' is the edge's own, for a single pair), and
with `discover_vehicles` also taken on as their bottleneck topics appear. A depot's edge knows its fleet, so
the list is the default: discovery would serve anyone on the DDS domain.

Threads: the DDS callbacks (one callback group per vehicle) decode each request strictly and submit it to
the scheduler (`pipeline.scheduler`: earliest deadline first, fair share, busy at once when it cannot finish
in time); `workers` inference threads take batches of up to `max_batch` requests for the same graph and run
them. Malformed messages are answered as rejected, with the reason, and counted; the node keeps serving. It
also answers each vehicle's link probes.

With `auth_key_file` set, a request is opened (`codec.auth`) before anything of it is decoded: one that is not
sealed with a key of the file, altered, replayed or stale is counted by reason and dropped unanswered (an
answer would let a forger make the vehicle give up on its real frame), and every answer is sealed.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.publisher import Publisher
from rclpy.timer import Timer
from sensor_msgs.msg import CompressedImage

from splitee_ros.codec import envelope
from splitee_ros.codec.auth import AUTH_REASONS, REQUEST, RESULT, Authenticator, AuthError
from splitee_ros.codec.envelope import Envelope, Status, encode_envelope
from splitee_ros.model.postprocess import Detections
from splitee_ros.pipeline.frames import elapsed_ms
from splitee_ros.pipeline.scheduler import Batch, EdgeScheduler, Request, SchedulerSettings
from splitee_ros.pipeline.tail import EdgeWork, RejectedError, TailPipeline
from splitee_ros.ros import qos
from splitee_ros.ros.convert import message_context
from splitee_ros.ros.executor import spin
from splitee_ros.ros.lifecycle import ManagedNode
from splitee_ros.ros.parameter_table import TAIL
from splitee_ros.ros.params import declare_table, load_authenticator, load_model, refresh_keys
from splitee_ros.ros.qos import BOTTLENECK_TOPIC, PROBE_ECHO_BYTES, PROBE_REPLY_TOPIC, PROBE_TOPIC, RESULT_TOPIC
from splitee_ros.ros.telemetry import RecentProblems, frame_key, frame_status, health
from splitee_ros.ros.threads import named_thread, report_worker_error


@dataclass
class Vehicle:
    """One vehicle the edge serves: its namespace, where its answers go, and its counts."""

    namespace: str  # absolute, e.g. /veh_3
    results: Publisher  # of result envelopes
    probe_replies: Publisher
    counts: Counter[str] = field(default_factory=Counter)
    subscriptions: list = field(default_factory=list)  # its requests and probes

    def topic(self, relative: str) -> str:
        """A topic of this vehicle's."""
        return f'{self.namespace.rstrip("/")}/{relative}'


@dataclass
class Job:
    """A request in the scheduler: the decoded work and what the answer needs."""

    vehicle: Vehicle
    header: object
    work: EdgeWork
    arrived: float


class TailNode(ManagedNode):
    """The edge side of split computing, for a fleet (a managed node: configure loads, activate serves)."""

    def __init__(self, **kwargs) -> None:
        """Declare the parameters; health and telemetry (the model loads on configure)."""
        super().__init__('tail_node', **kwargs)
        self.values = declare_table(self, TAIL)
        self.settings = SchedulerSettings(
            max_batch=self.values['max_batch'], max_queue_delay_s=self.values['max_queue_delay_ms'] / 1e3,
            queue_capacity=self.values['queue_capacity'], workers=self.values['workers'],
        )  # fmt: skip
        self.pipeline: TailPipeline | None = None
        self.scheduler: EdgeScheduler[Job] = EdgeScheduler(self.settings)
        self.counts: Counter[str] = Counter()
        self.problems = RecentProblems(('rejected', 'busy', 'expired', 'thread_errors', *AUTH_REASONS))
        self.auth: Authenticator | None = None  # on configure, with auth_key_file
        self.vehicles: dict[str, Vehicle] = {}
        self._vehicles_lock = threading.Lock()
        self._running = False
        self.workers: list[threading.Thread] = []
        self._discovery: Timer | None = None
        # results assert the edge's liveliness: a vehicle learns within the lease that this edge died
        self._result_qos = qos.with_liveliness(qos.DETECTIONS, self.values['liveliness_lease_ms'] / 1e3)
        self.telemetry_pub = self.create_publisher(DiagnosticStatus, '~/telemetry', qos.TELEMETRY)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(1.0, self.report_health, callback_group=MutuallyExclusiveCallbackGroup())
        self.create_timer(
            1.0, lambda: refresh_keys(self, self.auth, self.counts), callback_group=MutuallyExclusiveCallbackGroup()
        )

    def load(self) -> None:
        """Read the key file; load and warm every split's tail and the whole model (or connect to the engine)."""
        self.auth = load_authenticator(self.values)
        package, runtime = load_model(self.values, 'tail', max_batch=self.settings.max_batch)
        max_payload = self.values['max_payload_bytes']
        self.class_names = list(package.config.class_names)
        self.pipeline = TailPipeline(runtime, package.wire_spec(max_bytes=max_payload), max_payload)
        backend = f'{runtime.backend.name}/{runtime.backend.device}'
        self.get_logger().info(
            f'{package.folder.name} on {backend}: tails {runtime.split_names} warm; batches of up to '
            f'{self.settings.max_batch}'
        )

    def start(self) -> None:
        """Serve the named vehicles (and, with discovery, those that appear); start the inference workers."""
        self.scheduler = EdgeScheduler(self.settings)
        self._running = True
        for namespace in self.values['vehicles']:
            self._serve(self._absolute(namespace))
        if self.values['discover_vehicles']:
            self._discovery = self.create_timer(1.0, self._discover, callback_group=MutuallyExclusiveCallbackGroup())
        failed = functools.partial(report_worker_error, self, self.counts)
        self.workers = [named_thread(self._work_loop, f'tail-worker-{index}', failed)
                        for index in range(self.settings.workers)]  # fmt: skip
        for worker in self.workers:
            worker.start()
        self.get_logger().info(f'serving {sorted(self.vehicles)}')

    def stop(self) -> None:
        """Stop taking requests and the workers; what was still queued is answered busy.

        Not after Ctrl-C: rclpy's signal handler has shut the context down by then, and nothing can be published.
        """
        if self._discovery is not None:
            self.destroy_timer(self._discovery)
            self._discovery = None
        with self._vehicles_lock:
            for vehicle in self.vehicles.values():
                for subscription in vehicle.subscriptions:
                    self.destroy_subscription(subscription)
                vehicle.subscriptions.clear()
        self._running = False
        left = self.scheduler.close()
        if self.context.ok():
            for request in left:
                self._refuse(request.item, Status.BUSY)
        for worker in self.workers:
            worker.join(timeout=5.0)
        with self._vehicles_lock:
            for vehicle in self.vehicles.values():
                self.destroy_publisher(vehicle.results)
                self.destroy_publisher(vehicle.probe_replies)
            self.vehicles.clear()

    def free(self) -> None:
        """Drop the model and the keys."""
        self.pipeline = self.auth = None

    def _loaded(self) -> TailPipeline:
        """The pipeline: requests arrive only from activate on, after configure loaded it."""
        if self.pipeline is None:
            raise RuntimeError('tail_node is not configured')
        return self.pipeline

    def _absolute(self, namespace: str) -> str:
        namespace = namespace.strip('/')
        if not namespace:
            return self.get_namespace()
        return f'/{namespace}'

    def _serve(self, namespace: str) -> None:
        """Subscribe to a vehicle's requests and probes, and advertise its answers."""
        with self._vehicles_lock:
            if namespace in self.vehicles:
                return
            prefix = namespace.rstrip('/')
            vehicle = Vehicle(
                namespace,
                self.create_publisher(CompressedImage, f'{prefix}/{RESULT_TOPIC}', self._result_qos),
                self.create_publisher(CompressedImage, f'{prefix}/{PROBE_REPLY_TOPIC}', qos.PROBE),
            )
            self.vehicles[namespace] = vehicle
        group = MutuallyExclusiveCallbackGroup()
        vehicle.subscriptions += [
            self.create_subscription(
                CompressedImage,
                vehicle.topic(BOTTLENECK_TOPIC),
                functools.partial(self._on_request, vehicle),
                qos.with_lifespan(qos.BOTTLENECK, self.values['request_lifespan_ms'] / 1e3),
                qos_overriding_options=qos.overridable(),
                callback_group=group,
            ),
            self.create_subscription(
                CompressedImage,
                vehicle.topic(PROBE_TOPIC),
                functools.partial(self._echo_probe, vehicle),
                qos.PROBE,
                callback_group=group,
            ),
        ]

    @staticmethod
    def _echo_probe(vehicle: Vehicle, msg: CompressedImage) -> None:
        """Answer a link probe with its header and token only: its round trip then times the uplink alone."""
        msg.data = bytes(msg.data[:PROBE_ECHO_BYTES])
        vehicle.probe_replies.publish(msg)

    def _discover(self) -> None:
        """Serve every namespace that publishes a bottleneck topic."""
        suffix = f'/{BOTTLENECK_TOPIC}'
        for name, types in self.get_topic_names_and_types():
            if name.endswith(suffix) and 'sensor_msgs/msg/CompressedImage' in types:
                namespace = name[: -len(suffix)] or '/'
                if namespace not in self.vehicles:
                    self.get_logger().info(f'serving a new vehicle: {namespace}')
                    self._serve(namespace)

    def _on_request(self, vehicle: Vehicle, msg: CompressedImage) -> None:
        arrived = time.monotonic()
        data = bytes(msg.data)
        if self.auth is not None:
            try:
                data = self.auth.open(data, message_context(REQUEST, vehicle.namespace, msg.header, msg.format),
                                      vehicle.namespace)  # fmt: skip
            except AuthError as error:  # not from a holder of the keys: counted, never decoded nor answered
                self.counts[error.reason] += 1
                vehicle.counts[error.reason] += 1
                self.get_logger().warning(f'unauthenticated request on {vehicle.namespace}: {error}',
                                          throttle_duration_sec=5.0)  # fmt: skip
                return
        try:
            work = self._loaded().decode(msg.format, data)
        except Exception as error:  # a malformed message (RejectedError) or a failure on it: answer, count, serve on
            if not isinstance(error, RejectedError):
                error = RejectedError('internal', f'{type(error).__name__}: {error}')
            self.counts[f'rejected_{error.reason}'] += 1
            self._answer(vehicle, msg.header, Envelope(Status.REJECTED, 0, Detections.empty(), detail=str(error)), {})
            self.get_logger().warning(f'rejected a frame from {vehicle.namespace}: {error}', throttle_duration_sec=5.0)
            return
        job = Job(vehicle, msg.header, work, arrived)
        request = Request(vehicle.namespace, work.batch_key, work.request.edge_deadline(arrived), job)
        refused = self.scheduler.submit(request)
        for busy in refused.busy:
            self._refuse(busy.item, Status.BUSY)
        for expired in refused.expired:
            self._refuse(expired.item, Status.EXPIRED)

    def _work_loop(self) -> None:
        while self._running:
            batch = self.scheduler.take(0.1)
            for expired in batch.expired:
                self._refuse(expired.item, Status.EXPIRED)
            if batch.requests:
                self._run(batch)

    def _run(self, batch: Batch[Job]) -> None:
        jobs = [request.item for request in batch.requests]
        start = time.perf_counter()
        started = time.monotonic()
        try:
            results = self._loaded().run([job.work for job in jobs])
        except Exception as error:  # the batch failed: every request in it gets a reason, the node serves on
            self.scheduler.done(batch, time.perf_counter() - start)
            self.counts['rejected_internal'] += len(jobs)
            for job in jobs:
                failed = Envelope(Status.REJECTED, self._sequence(job), Detections.empty(), detail=f'internal: {error}')
                self._answer(job.vehicle, job.header, failed, {})
            self.get_logger().error(f'a batch of {len(jobs)} failed: {error}', throttle_duration_sec=5.0)
            return
        batch_ms = elapsed_ms(start)
        self.scheduler.done(batch, batch_ms / 1e3)
        for job, detections in zip(jobs, results, strict=True):
            queue_ms = (started - job.arrived) * 1e3
            compute_ms = job.work.info.get('decode_ms', 0.0) + batch_ms
            answer = Envelope(Status.OK, self._sequence(job), detections, queue_ms, compute_ms)
            self._answer(job.vehicle, job.header, answer, {'tail_ms': batch_ms, 'batch': len(jobs)})

    @staticmethod
    def _sequence(job: Job) -> int:
        return int(job.work.info.get('sequence', 0))

    def _refuse(self, job: Job, status: Status) -> None:
        refusal = Envelope(status, self._sequence(job), Detections.empty(), (time.monotonic() - job.arrived) * 1e3)
        self._answer(job.vehicle, job.header, refusal, {})

    def _answer(self, vehicle: Vehicle, header, answer: Envelope, values: dict) -> None:
        """Publish `answer` on the vehicle's result topic with the request's header; count it; telemetry."""
        data = encode_envelope(answer)
        if self.auth is not None:
            data = self.auth.seal(data, message_context(RESULT, vehicle.namespace, header, envelope.FORMAT))
        vehicle.results.publish(CompressedImage(header=header, format=envelope.FORMAT, data=data))
        outcome = 'edge' if answer.status is Status.OK else answer.status.name.lower()
        vehicle.counts[outcome] += 1
        self.counts[outcome] += 1
        info = {'vehicle': vehicle.namespace, 'queue_ms': answer.queue_ms, 'compute_ms': answer.compute_ms, **values}
        if answer.detail:
            info['reason'] = answer.detail[:200]
        self.telemetry_pub.publish(frame_status(self.get_name(), frame_key(header), outcome, info))

    def report_health(self) -> None:
        """Counters at 1 Hz, per vehicle too; ERROR with the reason while the last configure failed."""
        counts = {'answered': self.counts['edge'], **{k: v for k, v in self.counts.items() if k != 'edge'}}
        level, message = self.problems.check(counts)
        if self.configure_error:
            level, message = DiagnosticStatus.ERROR, self.configure_error
        values: dict[str, object] = {**counts, 'active': self.active, 'queued': len(self.scheduler),
                                     'vehicles': len(self.vehicles),
                                     **{f'scheduler_{k}': v for k, v in self.scheduler.counts.items()}}  # fmt: skip
        values |= self.auth.health() if self.auth is not None else {'auth': 'off'}
        for vehicle in list(self.vehicles.values()):
            values |= {f'{vehicle.namespace}/{k}': v for k, v in vehicle.counts.items()}
        self.diagnostics_pub.publish(health(self, 'splitee: tail_node', level, message, values))


def main(args: list[str] | None = None) -> None:
    """Run tail_node until shut down."""
    spin(TailNode, args)


if __name__ == '__main__':
    main()
