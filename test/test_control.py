# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Profiles, the latency model, the adaptation policy and link change detection (no ROS)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import yaml
from conftest import DEMO_PACKAGE

from splitee_ros.control.latency import Choice, ComputeScale, LatencyModel, LinkState, choice_from_parameters
from splitee_ros.control.link import LinkEstimator, StageStats
from splitee_ros.control.monitor import FRAME_OUTCOMES
from splitee_ros.control.policy import Policy, PolicySettings
from splitee_ros.control.profile import (
    AccuracyProfile,
    DeviceProfile,
    Distribution,
    ExitPoint,
    Profile,
    refresh_accuracy,
)
from splitee_ros.control.simulate import Simulator, Trace, cellular_trace, step_trace
from splitee_ros.model.package import ModelPackage

C = Distribution.constant


def make_profile() -> Profile:
    """Two splits (`a` early with big codes, `b` late with small ones), two codecs, JPEG at two qualities."""
    curve = (ExitPoint(0.0, 1.0, 0.10), ExitPoint(0.5, 0.3, 0.50), ExitPoint(1.0, 0.0, 0.60))
    accuracy = AccuracyProfile(
        teacher=0.60,
        codec_accuracy={'a': {'int8': 0.58, 'int4': 0.55}, 'b': {'int8': 0.59, 'int4': 0.57}},
        exit_curves={'a': curve, 'b': curve},
        exit_alone={'a': 0.10, 'b': 0.10},
        jpeg={50: 0.57, 90: 0.60},
    )
    codecs = ('int8+zstd3', 'int4')
    sizes = {'a': {'int8+zstd3': 40000, 'int4': 20000}, 'b': {'int8+zstd3': 10000, 'int4': 5000}}
    device = DeviceProfile(
        name='cpu', backend='onnxruntime', device='cpu', threads=1, machine='test', frames=1,
        head_ms={'a': C(10), 'b': C(20)}, tail_ms={'a': C(30), 'b': C(20)}, full_ms=C(60),
        encode_ms={s: {c: C(1) for c in codecs} for s in 'ab'}, decode_ms={s: {c: C(1) for c in codecs} for s in 'ab'},
        code_bytes={s: {c: C(sizes[s][c]) for c in codecs} for s in 'ab'},
        jpeg_encode_ms={50: C(3), 90: C(4)}, jpeg_decode_ms={50: C(2), 90: C(2)},
        jpeg_bytes={50: C(20000), 90: C(60000)},
    )  # fmt: skip
    return Profile('0123', accuracy, {'cpu': device})


def model(vehicle_factor: float = 1.0) -> LatencyModel:
    profile = make_profile()
    vehicle = profile.device('cpu')
    return LatencyModel(profile, vehicle.scaled(vehicle_factor, 'slow') if vehicle_factor != 1 else vehicle, vehicle)


def test_distribution_draws_between_its_quantiles_and_rejects_bad_input():
    samples = np.arange(101, dtype=float)
    dist = Distribution.of(samples)
    assert dist.median == pytest.approx(50.0)
    assert dist.draw(np.array([0.0, 0.25, 1.0])).tolist() == pytest.approx([0.0, 25.0, 100.0])
    assert dist.scaled(2).median == pytest.approx(100.0)
    with pytest.raises(ValueError, match='non-decreasing'):
        Distribution((2.0, 1.0) + (3.0,) * 19)
    with pytest.raises(ValueError, match='no samples'):
        Distribution.of([])


def test_profile_round_trips_and_keeps_devices_side_by_side(tmp_path):
    profile = make_profile()
    edge = profile.device('cpu').scaled(0.5, 'edge-gpu')
    path = profile.with_device(edge).save(tmp_path)
    loaded = Profile.load(tmp_path)
    assert sorted(loaded.devices) == ['cpu', 'edge-gpu']
    assert loaded.device('cpu') == profile.device('cpu')
    assert loaded.device('edge-gpu').tail_ms['a'].median == pytest.approx(15.0)
    assert loaded.accuracy == profile.accuracy
    assert 'estimate' in yaml.safe_load(path.read_text())['devices']['edge-gpu']['machine']
    with pytest.raises(KeyError, match='profiled'):
        loaded.device('jetson')
    with pytest.raises(FileNotFoundError, match='splitee profile'):
        Profile.load(tmp_path / 'missing')


def test_latency_model_adds_the_stages_and_the_link():
    latency = model()
    link = LinkState(rtt_ms=2.0, goodput_mbps=10.0)
    never_exit = Choice('split', 'b', 'int8+zstd3', 1.0)
    # head 20 + encode 1 + 10000 B at 10 Mbit/s (8 ms) + rtt 2 + decode 1 + tail 20 = 52 ms
    (fits,) = latency.predict_all([never_exit], link, deadline_ms=53.0)
    (misses,) = latency.predict_all([never_exit], link, deadline_ms=51.0)
    assert fits.latency_p50_ms == pytest.approx(52.0)
    assert fits.intended_probability == 1.0 and misses.intended_probability == 0.0
    assert fits.hit_probability == misses.hit_probability == 1.0  # in time: the edge's answer, or the fallback
    assert fits.accuracy == pytest.approx(0.59)  # every frame through the int8 code
    assert misses.accuracy == pytest.approx(0.10)  # every frame answered by the exit at its deadline
    # exits at threshold 0.5 take 30% of frames after the head alone (20 ms)
    (mixed,) = latency.predict_all([Choice('split', 'b', 'int8+zstd3', 0.5)], link, deadline_ms=51.0)
    assert mixed.intended_probability == pytest.approx(0.3) and mixed.hit_probability == 1.0
    assert mixed.bytes_per_frame == pytest.approx(7000.0)
    # image offload: jpeg 3 + 20000 B (16 ms) + rtt 2 + decode 2 + whole model 60 = 83 ms; a miss gets nothing
    (image,) = latency.predict_all([Choice('offload-image', jpeg_quality=50)], link, deadline_ms=80.0)
    assert image.intended_probability == 0.0 and image.accuracy == 0.0
    (local,) = latency.predict_all([Choice('local')], None, deadline_ms=61.0, vehicle_scale=1.0)
    assert local.hit_probability == 1.0 and local.accuracy == pytest.approx(0.60)
    (slow_local,) = latency.predict_all([Choice('local')], None, deadline_ms=61.0, vehicle_scale=1.5)
    assert slow_local.hit_probability == 0.0 and slow_local.accuracy == 0.0  # late: it counts as nothing
    # a frame that misses with its head late too gets no fallback in time either
    (hopeless,) = latency.predict_all([never_exit], link, deadline_ms=15.0)
    assert hopeless.accuracy == 0.0
    (no_link,) = latency.predict_all([never_exit], None, deadline_ms=1000.0)
    assert no_link.intended_probability == 0.0 and no_link.accuracy == pytest.approx(0.10)  # all fall back
    # without an exit at the split, the fallback is an empty array: in time, but no answer
    exitless = LatencyModel(replace(latency.profile, accuracy=replace(latency.profile.accuracy, exit_alone={})),
                            latency.vehicle, latency.edge)  # fmt: skip
    (empty,) = exitless.predict_all([never_exit], link, deadline_ms=51.0)
    (answered,) = exitless.predict_all([never_exit], link, deadline_ms=53.0)
    assert empty.hit_probability == 0.0 and empty.accuracy == 0.0 and answered.hit_probability == 1.0
    assert {c.mode for c in latency.choices()} == {'split', 'local', 'offload-image'}
    with pytest.raises(ValueError, match='unknown modes'):
        latency.choices(['teleport'])


def test_policy_picks_the_most_accurate_feasible_choice_and_the_fewest_bytes_for_bandwidth():
    fast = LinkState(rtt_ms=2.0, goodput_mbps=100.0)
    decision = Policy(model(3.0), PolicySettings(deadline_ms=100.0)).decide(0.0, fast)
    assert decision.changed and decision.choice == Choice('offload-image', jpeg_quality=90)  # 0.60, local too slow
    assert 'offload-image q90' in decision.explain() and 'rtt 2.0 ms' in decision.explain()
    settings = PolicySettings(deadline_ms=100.0, objective='bandwidth', accuracy_floor=0.55)
    frugal = Policy(model(3.0), settings).decide(0.0, fast)
    assert frugal.prediction.accuracy >= 0.55
    # 5 KB codes at 0.57; exits at 0.5 would send 3.5 KB per frame but fall to 0.479, below the floor
    assert frugal.choice == Choice('split', 'b', 'int4', 1.0)


def test_without_a_feasible_choice_the_policy_keeps_the_most_on_time_accuracy():
    slow_link = LinkState(rtt_ms=50.0, goodput_mbps=0.5)
    decision = Policy(model(), PolicySettings(deadline_ms=5.0)).decide(0.0, slow_link)
    assert 'most on-time accuracy' in decision.reason and decision.alternatives == 0
    assert decision.prediction.hit_probability == 0.0 and decision.prediction.accuracy == 0.0  # nothing is in time
    # 90 ms on a slow link: nothing meets the target, but split `b` with int4 codes (20 + 1 + 40 ms + 50 + 21)
    # misses and falls back to its exit in time, where the whole model misses outright: 0.10 beats 0.0
    spread = LinkState(rtt_ms=50.0, goodput_mbps=1.0)
    policy = Policy(model(), PolicySettings(deadline_ms=90.0, modes=('split', 'local')))
    assert policy.decide(0.0, spread).prediction.accuracy > 0.0
    # 15 ms: only the exit after the 10 ms head of split `a` is in time
    tight = Policy(model(), PolicySettings(deadline_ms=15.0)).decide(0.0, slow_link)
    # only split `a`'s head is in time; its confident exits (30% of frames) are worth more than exits on every frame
    assert tight.choice.split == 'a' and tight.prediction.accuracy > 0.10 and tight.prediction.hit_probability == 1
    no_link = Policy(model(), PolicySettings(deadline_ms=100.0)).decide(0.0, None)
    assert no_link.choice == Choice('local')  # the edge is gone: the whole model here meets 100 ms


def test_hysteresis_and_dwell_prevent_flapping_on_a_noisy_link():
    rng = np.random.default_rng(1)
    # the goodput wanders around the point where the best choice flips between q90 images and q50 images
    bandwidths = 8.0 * np.exp(rng.normal(0.0, 0.25, size=600))

    def changes(settings: PolicySettings) -> int:
        policy = Policy(model(3.0), settings)
        return sum(policy.decide(i * 0.5, LinkState(2.0, float(bw))).changed for i, bw in enumerate(bandwidths)) - 1

    eager = changes(PolicySettings(deadline_ms=100.0, hysteresis=0.0, hit_margin=0.0, min_dwell_s=0.0))
    steady = changes(PolicySettings(deadline_ms=100.0, hysteresis=0.02, hit_margin=0.1, min_dwell_s=3.0))
    assert eager > 50
    assert steady <= eager / 5


def test_a_drop_switches_at_once_despite_the_dwell_time_and_recovery_waits_for_it():
    policy = Policy(model(3.0), PolicySettings(deadline_ms=100.0, min_dwell_s=10.0))
    rich = policy.decide(0.0, LinkState(2.0, 100.0)).choice
    dropped = policy.decide(1.0, LinkState(2.0, 1.0))
    assert dropped.changed and 'below' in dropped.reason
    assert not policy.decide(5.0, LinkState(2.0, 100.0)).changed  # dwell
    back = [now for now in np.arange(11.0, 20.0, 0.5) if policy.decide(float(now), LinkState(2.0, 100.0)).changed]
    assert back == [13.5] and policy.current == rich  # after the dwell, better on six decisions in a row


def test_a_choice_whose_frames_overfill_the_uplink_is_left_though_every_choice_falls_back():
    """Each frame alone is late on a slow link whatever the code, so every choice is worth its fallback: ties.

    10 KB codes at 5 FPS take 133% of 0.3 Mbit/s, and their queue grows without end: a tie is no reason to keep
    them (two-host run: 15 KB codes kept for the whole 0.6 Mbit/s phase, every frame a fallback).
    """
    profile = make_profile()
    never = (ExitPoint(1.0, 0.0, 0.60),)  # no exits: the splits' choices differ only in their codes
    profile = replace(profile, accuracy=replace(profile.accuracy, exit_curves={'a': never, 'b': never}))
    device = profile.device('cpu')
    latency = LatencyModel(profile, device, device)
    slow, big = LinkState(rtt_ms=5.0, goodput_mbps=0.3), Choice('split', 'b', 'int8+zstd3', 1.0)
    (alone,) = latency.predict_all([big], slow, deadline_ms=60.0)
    (together,) = latency.predict_all([big], slow, deadline_ms=60.0, frame_rate_hz=5.0)
    assert alone.uplink_share == 0.0 and together.uplink_share == pytest.approx(10000 * 8 * 5 / 0.3e6)
    assert together.accuracy == alone.accuracy == pytest.approx(0.10)  # late: its fallback, as every other choice

    def decisions(frame_rate_hz: float) -> list:
        policy = Policy(latency, PolicySettings(deadline_ms=60.0, modes=('split',)))
        policy.start(big, 0.0)
        return [policy.decide(11.0 + i * 0.5, slow, frame_rate_hz=frame_rate_hz) for i in range(20)]

    assert not any(d.changed for d in decisions(0.0))  # the frame rate unknown: nothing better, kept
    moved = [d for d in decisions(5.0) if d.changed]
    assert len(moved) == 1 and moved[0].time == 11.5  # confirmed once, as a choice that misses the target
    assert 'take 133% of the uplink' in moved[0].reason and moved[0].prediction.uplink_share <= 0.9
    assert not any(d.changed for d in decisions(3.5))  # 93%: no new choice may take that much, the current keeps it
    # nothing in time at all (5 ms): the most on-time accuracy among what the uplink carries
    hopeless = Policy(latency, PolicySettings(deadline_ms=5.0, modes=('split',))).decide(0.0, slow, frame_rate_hz=5.0)
    assert hopeless.alternatives == 0 and hopeless.prediction.uplink_share <= 0.9


def test_the_frame_rate_counts_each_frame_once_over_the_window_up_to_now():
    stats = StageStats(window_s=5.0)
    assert stats.frame_rate_hz(0.0, FRAME_OUTCOMES) == 0.0
    for frame in range(40):  # 10 FPS; a late answer and an exit check are second records of a frame
        now = frame * 0.1
        stats.add(now, ('edge', 'fallback', 'exit', 'dropped')[frame % 4], {})
        stats.add(now + 0.05, 'late' if frame % 4 == 1 else 'exit_check', {})
    assert stats.frame_rate_hz(3.95, FRAME_OUTCOMES) == pytest.approx(10.0)
    assert stats.frame_rate_hz(8.0, FRAME_OUTCOMES) == pytest.approx(10.0)  # the last 0.9 s of frames
    assert stats.frame_rate_hz(9.5, FRAME_OUTCOMES) == 0.0  # the head went quiet: no rate, not the old one
    cameras = StageStats(window_s=5.0)
    for second in range(5):  # four cameras answered as one batch a second: 4 FPS, not 5
        for _ in range(4):
            cameras.add(float(second), 'edge', {})
    assert cameras.frame_rate_hz(4.0, FRAME_OUTCOMES) == pytest.approx(4.0)


def test_manual_override_is_respected_until_its_hold_ends():
    policy = Policy(model(3.0), PolicySettings(deadline_ms=100.0, manual_hold_s=20.0))
    link = LinkState(2.0, 100.0)
    automatic = policy.decide(0.0, link).choice
    by_hand = choice_from_parameters({'mode': 'split', 'split_point': 'a', 'codec': 'int4', 'exit_threshold': 0.5})
    policy.override(by_hand, now=1.0)
    for now in (2.0, 10.0, 20.5):
        decision = policy.decide(now, link)
        assert decision.choice == by_hand and not decision.changed and 'by hand' in decision.reason
    after = [policy.decide(21.0 + i * 0.5, link).choice for i in range(policy.settings.improve_confirmations)]
    assert after[:-1] == [by_hand] * (len(after) - 1) and after[-1] == automatic


def test_choice_parameters_round_trip():
    for choice in (Choice('split', 'a', 'int8+zstd3', 0.3), Choice('offload-image', jpeg_quality=70), Choice('local')):
        assert choice_from_parameters(choice.parameters()) == choice
    with pytest.raises(ValueError, match='objective'):
        PolicySettings(objective='speed')
    with pytest.raises(ValueError, match='modes'):
        PolicySettings(modes=('split', 'warp'))


def test_compute_scale_is_the_median_ratio_within_bounds():
    scale = ComputeScale(window=5)
    assert scale.value == 1.0
    for measured in (20.0, 22.0, 18.0, 200.0, 21.0):
        scale.add(measured, C(10.0))
    assert scale.value == pytest.approx(2.1)
    scale.add(1e6, C(1.0))
    for _ in range(5):
        scale.add(1e6, C(1.0))
    assert scale.value == 8.0


def probe(estimator: LinkEstimator, rates_mbps, start: float = 0.0, rtt_s: float = 0.005, noise: float = 0.0,
          seed: int = 0) -> float:  # fmt: skip
    """Probes at 5 Hz, 256 and 8192 bytes in turn, over a link of the given goodputs; the time after the last."""
    rng = np.random.default_rng(seed)
    now = start
    for index, rate in enumerate(rates_mbps):
        size = 256 if index % 2 == 0 else 8192
        measured = rate * float(np.exp(rng.normal(0.0, noise))) if noise else rate
        estimator.add_probe(now, size, rtt_s + size * 8 / (measured * 1e6))
        now += 0.2
    return now


def test_a_bandwidth_drop_is_noticed_within_a_second():
    estimator = LinkEstimator(window_s=5.0)
    now = probe(estimator, [20.0] * 50)
    assert estimator.estimate(now).goodput_mbps == pytest.approx(20.0, rel=0.01)
    assert estimator.estimate(now).rtt_ms == pytest.approx(5.1, abs=0.1)

    def seconds_until(rate: float, below: bool) -> float | None:
        nonlocal now
        for step in range(10):
            now = probe(estimator, [rate, rate], start=now)  # a small and a large probe
            goodput = estimator.estimate(now).goodput_mbps
            if (goodput < 4.0) if below else (goodput > 10.0):
                return (step + 1) * 0.4
        return None

    dropped = seconds_until(2.0, below=True)
    assert dropped is not None and dropped <= 1.2  # two large probes at 2.5 Hz, then the restart
    assert estimator.estimate(now).changes == 1
    now = probe(estimator, [2.0] * 20, start=now)
    recovered = seconds_until(20.0, below=False)
    assert recovered is not None and recovered <= 1.2


def test_rtt_jump_restarts_the_window_and_the_base_rtt_follows_it_within_ten_seconds_and_noise_does_not():
    from splitee_ros.control.link import BASE_RTT_WINDOW_S

    estimator = LinkEstimator(window_s=5.0)
    for i in range(30):
        estimator.add_probe(i * 0.2, 256, 0.002)
    for i in range(30, 42):
        estimator.add_probe(i * 0.2, 256, 0.060)
    estimate = estimator.estimate(42 * 0.2)
    assert estimate.changes == 1  # the window restarts at once ...
    assert estimate.rtt_ms == pytest.approx(2.0)  # ... but a probe queued behind a frame must not raise the base
    for i in range(42, 30 + int(BASE_RTT_WINDOW_S / 0.2) + 1):
        estimator.add_probe(i * 0.2, 256, 0.060)
    assert estimator.estimate(i * 0.2).rtt_ms == pytest.approx(60.0)  # a lasting rise, within BASE_RTT_WINDOW_S
    steady = LinkEstimator(window_s=5.0)
    probe(steady, [20.0] * 300, noise=0.2, seed=3)
    assert steady.changes == 0


def test_real_frames_measure_the_link_and_probes_only_fill_in():
    estimator = LinkEstimator(window_s=5.0)
    now = 0.0
    for index in range(10):
        estimator.add_probe(index * 0.5, 256, 0.005)
    now = 5.0
    assert estimator.goodput_stale(now)  # RTT only: goodput needs frames or larger probes
    rng = np.random.default_rng(0)
    times = []
    for index in range(40):  # 20 KB frames on a 10 Mbit/s link (16 ms), with 0-30 ms of executor and queue jitter
        link_s = 0.005 + 0.016 + float(rng.uniform(0, 0.030))
        times.append(link_s)
        estimator.add_frame(now + index * 0.1, 20000, link_s)
    now += 4.0
    assert not estimator.goodput_stale(now)  # a link that carries frames needs no large probes
    estimate = estimator.estimate(now)
    assert estimate.loss == 0.0 and estimate.goodput_mbps is not None
    state = LinkState.from_estimate(estimate)
    delay, goodput = state.draw(np.full((3, 1), 0.5))
    predicted_ms = float(np.squeeze(delay)) + 20000 * 8 / (float(np.squeeze(goodput)) * 1e3)
    assert predicted_ms == pytest.approx(np.median(times) * 1e3, rel=0.25)  # a frame's time as frames take it
    for index in range(10):  # frames the edge never answered
        estimator.add_frame(now + index * 0.1, 20000, None)
    assert estimator.estimate(now + 1.0).loss == pytest.approx(10 / 50)  # of the frames in the window
    assert estimator.goodput_stale(now + 3.0)


def test_profile_command_measures_a_device_and_keeps_the_others(tmp_path):
    from splitee_ros.cli import main

    package = tmp_path / 'pkg'
    shutil.copytree(DEMO_PACKAGE, package)
    (package / 'profile.yaml').unlink(missing_ok=True)
    assert main(['profile', str(package), '--backend', 'torch', '--frames', '2', '--name', 'vehicle']) == 0
    assert main(['profile', str(package), '--backend', 'torch', '--frames', '2', '--threads', '1']) == 0
    profile = Profile.load(package)
    assert sorted(profile.devices) == ['torch/cpu/1t', 'vehicle']
    vehicle = profile.device('vehicle')
    assert set(vehicle.head_ms) == set(vehicle.tail_ms) == set(ModelPackage.load(package).split_names)
    assert 'int8+zstd3' in vehicle.encode_ms['stage2'] and 'learned' in vehicle.code_bytes['stage2']
    assert vehicle.code_bytes['stage2']['int4'].median < vehicle.code_bytes['stage2']['int8'].median
    assert all(d.median > 0 for d in vehicle.head_ms.values()) and vehicle.full_ms.median > 0
    evaluated = json.loads((package / 'eval.json').read_text())  # accuracy comes from the package's evaluation
    teacher = evaluated['teacher']  # as the nodes publish it, where the evaluation has that figure
    assert profile.accuracy.teacher == pytest.approx(teacher.get('published_map50') or teacher['map50'])
    assert set(vehicle.jpeg_bytes) == set(profile.accuracy.jpeg)
    latency = LatencyModel(profile, vehicle, profile.device('torch/cpu/1t'))
    assert latency.choices()


def test_the_policy_takes_accuracy_as_published_and_a_new_evaluation_refreshes_it(tmp_path):
    package = tmp_path / 'pkg'
    shutil.copytree(DEMO_PACKAGE, package)
    report = json.loads((package / 'eval.json').read_text())
    devices = Profile.load(package).devices
    for entry in [report['teacher'], *report['baselines'].values(), *(e['alone'] for e in report['exits'].values()),
                  *(p for e in report['exits'].values() for p in e['curve']),
                  *(s for e in report['splits'].values() for s in e['accuracy'].values())]:  # fmt: skip
        entry['published_map50'] = round(entry['map50'] * 0.9, 4)  # fewer detections published: less AP
    (package / 'eval.json').write_text(json.dumps(report))
    model_id = ModelPackage.load(package).model_id.hex()
    assert refresh_accuracy(package, 'another model') is None  # not this model's profile: left alone
    assert refresh_accuracy(package, model_id) == package / 'profile.yaml'
    refreshed = Profile.load(package)
    assert refreshed.devices == devices  # the measured times are kept
    accuracy = refreshed.accuracy
    assert accuracy.teacher == pytest.approx(report['teacher']['map50'] * 0.9, abs=1e-4)
    split, (codec, score) = 'stage2', next(iter(report['splits']['stage2']['accuracy'].items()))
    assert accuracy.codec_map50(split, codec) == pytest.approx(score['map50'] * 0.9, abs=1e-4)
    assert accuracy.exit_curves[split][0].map50 == pytest.approx(report['exits'][split]['curve'][0]['published_map50'])
    assert accuracy.jpeg[50] == pytest.approx(report['baselines']['jpeg50']['published_map50'])
    assert 'as published' not in accuracy.source
    del report['teacher']['published_map50']  # an older evaluation: COCO's figures, and the source says so
    assert AccuracyProfile.from_eval(report, 'eval.json').source.endswith(
        '(scored at COCO threshold, not as published)'
    )


def test_trace_files_round_trip_and_bad_ones_are_refused(tmp_path):
    trace = cellular_trace(seed=3, duration_s=20.0)
    assert trace.goodput_mbps.min() > 0 and len(trace.times_s) == 200
    trace.save_csv(tmp_path / 'cellular.csv')
    loaded = Trace.load_csv(tmp_path / 'cellular.csv')
    assert np.allclose(loaded.goodput_mbps, trace.goodput_mbps, atol=1e-4)
    assert loaded.at(5.05) == pytest.approx(trace.at(5.05), abs=0.01)
    assert step_trace(phase_s=10.0).at(15.0)[0] == 2.0 and step_trace(phase_s=10.0).at(25.0)[0] == 20.0
    (tmp_path / 'bad.csv').write_text('time_s,goodput_mbps,rtt_ms\n0,5,5\n1,-1,5\n')
    with pytest.raises(ValueError, match='goodput'):
        Trace.load_csv(tmp_path / 'bad.csv')
    (tmp_path / 'columns.csv').write_text('t,rate\n0,5\n')
    with pytest.raises(ValueError, match='columns'):
        Trace.load_csv(tmp_path / 'columns.csv')


def test_simulated_policy_keeps_the_deadline_and_beats_static_choices_on_a_step():
    latency = model(3.0)
    simulator = Simulator(latency, step_trace(high=20.0, low=0.5, phase_s=20.0), deadline_ms=100.0)
    statics = [simulator.run(choice) for choice in latency.choices()]
    start = Choice('offload-image', jpeg_quality=90)
    adaptive = simulator.run(Policy(latency, PolicySettings(deadline_ms=100.0)), start=start)
    assert adaptive.changes >= 2  # down at the drop, up again after it
    # on-time mAP@.5: the best static choice here is the split that falls back to its exit during the drop;
    # the policy loses to it only while it makes sure of the recovery (a few seconds of a 60 s trace)
    assert adaptive.mean_accuracy >= max(r.mean_accuracy for r in statics) - 0.03
    assert adaptive.probe_share <= 0.05
    images = next(r for r in statics if r.label == 'offload-image q50')
    assert images.intended_rate < 0.8  # a static choice that only fits the fast link misses during the drop


def monitor_for(latency: LatencyModel, **settings):
    from splitee_ros.control.monitor import LinkMonitor, MonitorSettings

    policy = Policy(latency, PolicySettings(deadline_ms=100.0))
    return LinkMonitor(MonitorSettings(**settings), latency, policy)


def run_probes(monitor, start: float, seconds: float, rtt_s: float, goodput_mbps: float) -> list[int]:
    """Drive the monitor's probe timer every 20 ms; every probe comes back after RTT + its transfer."""
    sizes, now = [], start
    while now < start + seconds:
        probe = monitor.next_probe(now)
        if probe is not None:
            sizes.append(probe[1])
            monitor.probe_reply(now + rtt_s + probe[1] * 8 / (goodput_mbps * 1e6), probe[0])
        now += 0.02
    return sizes


@pytest.mark.parametrize('forged', [{'head_ms': 'x'}, {'bytes': 'nan'}, {'edge_rtt_ms': 'inf'}, {'agreement': ''},
                                    {'edge_compute_ms': '1e999'}])  # fmt: skip
def test_telemetry_with_a_number_that_is_not_finite_is_refused_whole(forged):
    from splitee_ros.control.monitor import TelemetryError

    monitor = monitor_for(model())
    values = {'mode': 'split', 'split': 'b', 'bytes': '10000', 'head_ms': '9', 'edge_rtt_ms': '40',
              'edge_queue_ms': '4', 'edge_compute_ms': '17', 'agreement': '0.9', **forged}  # fmt: skip
    with pytest.raises(TelemetryError, match=next(iter(forged))):
        monitor.on_head(1.0, 'forged', 'edge', values)
    assert monitor.head_stats.summary() == {}  # nothing of it was kept
    monitor.on_head(1.0, 'valid', 'edge', {**values, **{name: '5' for name in forged}})
    assert monitor.head_stats.summary()['count_edge'] == 1


def test_probes_stay_small_while_frames_measure_the_link_and_within_their_share_when_idle():
    from splitee_ros.control.monitor import PROBE_OVERHEAD

    monitor = monitor_for(model(), probe_hz=2.0, probe_sizes=(256, 8192), probe_share=0.04)
    idle = run_probes(monitor, 0.0, 40.0, 0.005, 0.5)  # an idle 0.5 Mbit/s uplink: goodput probes fill in
    on_the_wire = (sum(idle) + len(idle) * PROBE_OVERHEAD) * 8 / 40.0
    assert max(idle) > 256 and on_the_wire <= 0.045 * 0.5e6  # the share (and the start, before an estimate)
    assert monitor.link.estimate(40.0).goodput_mbps == pytest.approx(0.5, rel=0.2)
    now = 40.0
    for frame in range(50):  # frames now carry 10 KB each way every 0.1 s, answered in RTT + transfer
        now = 40.0 + frame * 0.1
        values = {'mode': 'split', 'split': 'b', 'bytes': '10000', 'edge_rtt_ms': str(5 + 160 + 21),
                  'edge_queue_ms': '4', 'edge_compute_ms': '17'}  # fmt: skip
        monitor.on_head(now, str(frame), 'edge', values)
        for probe_time in np.arange(now, now + 0.1, 0.02):
            probe = monitor.next_probe(float(probe_time))
            assert probe is None or probe[1] == 256  # only RTT probes while frames measure the goodput
            if probe is not None:
                monitor.probe_reply(float(probe_time) + 0.01, probe[0])
    assert monitor.link.estimate(now).goodput_mbps == pytest.approx(0.5, rel=0.2)


def run_noisy_link(monitor, start: float, seconds: float, mbit: float, jitter_s: float, seed: int) -> int:
    """A lean code (8.7 KB at 5 FPS) and the monitor's probes on a `mbit` uplink; returns the probes' bytes.

    Every time on the path is jittered by up to `jitter_s` (the executors of a loaded machine); replies echo
    the header only.
    """
    import heapq

    from splitee_ros.control.monitor import PROBE_OVERHEAD

    rng = np.random.default_rng(seed)
    events: list[tuple[float, int, str, object]] = []
    for tick in np.arange(start, start + seconds, 0.02):
        heapq.heappush(events, (float(tick), len(events), 'tick', None))
    for frame in np.arange(start, start + seconds, 0.2):
        link_ms = (0.010 + 8700 * 8 / (mbit * 1e6) + rng.uniform(0, jitter_s)) * 1e3
        values = {'mode': 'split', 'split': 'b', 'bytes': '8700', 'edge_rtt_ms': f'{link_ms + 20:.3f}',
                  'edge_queue_ms': '2', 'edge_compute_ms': '18'}  # fmt: skip
        heapq.heappush(events, (float(frame) + link_ms / 1e3 + 0.02, len(events), 'head', (f'{frame:.1f}', values)))
    sent = 0
    while events:
        now, _, kind, payload = heapq.heappop(events)
        if kind == 'head':
            monitor.on_head(now, payload[0], 'edge', payload[1])
        elif kind == 'reply':
            monitor.probe_reply(now, payload)
        elif (probe := monitor.next_probe(now)) is not None:
            sent += probe[1] + PROBE_OVERHEAD
            delay = 0.010 + probe[1] * 8 / (mbit * 1e6) + rng.uniform(0, jitter_s)
            heapq.heappush(events, (now + delay, len(events), 'reply', probe[0]))
    return sent


def test_after_a_recovery_probes_sized_above_the_jitter_find_the_rate_a_lean_code_cannot_show():
    monitor = monitor_for(model())
    run_noisy_link(monitor, 0.0, 15.0, 0.6, 0.010, seed=1)
    assert monitor.link.estimate(15.0).goodput_mbps == pytest.approx(0.6, rel=0.3)
    # at 20 Mbit/s the code's 3.5 ms transfer is within the 0-10 ms jitter: its frames only bound the goodput
    on_the_wire = run_noisy_link(monitor, 15.0, 15.0, 20.0, 0.010, seed=2)
    assert monitor.link.estimate(30.0).goodput_mbps == pytest.approx(20.0, rel=0.3)
    assert on_the_wire * 8 / 15.0 <= 0.05 * 20e6  # the probes' share of the recovered link
    sizes = sorted(monitor.settings.probe_sizes)
    assert sizes[1] <= monitor._goodput_probe_size(monitor.link.estimate(30.0)) <= sizes[-1]


def test_a_code_that_fills_the_uplink_shows_as_a_slow_link_not_as_a_long_rtt():
    """15 KB frames at 5 FPS on a 0.6 Mbit/s FIFO uplink (it carries 15 KB a frame): every probe queues.

    For the base RTT's window (10 s) after the code began to fill the link: the policy's time to act.
    """
    monitor = monitor_for(model())
    run_noisy_link(monitor, 0.0, 10.0, 20.0, 0.002, seed=1)  # the path before: a 10 ms RTT
    busy_until, now = 0.0, 10.0
    events = []
    for frame in range(45):
        sent = 10.0 + frame * 0.2
        busy_until = max(busy_until, sent) + 15500 * 8 / 0.6e6  # the code and its headers, a little over the link
        events.append((busy_until + 0.010, 'head', frame, sent))
    while now < 19.0:
        if (probe := monitor.next_probe(now)) is not None:
            queued = max(busy_until_at(events, now), now) - now  # behind the frames still on the link
            events.append((now + queued + probe[1] * 8 / 0.6e6 + 0.010, 'reply', probe[0], now))
        now += 0.02
    for when, kind, what, sent in sorted(events):
        if when > 19.0:
            break
        if kind == 'head':
            link_ms = (when - sent) * 1e3
            monitor.on_head(
                when,
                f'q{what}',
                'edge',
                {
                    'mode': 'split',
                    'split': 'b',
                    'bytes': '15500',
                    'edge_rtt_ms': f'{link_ms + 20:.3f}',
                    'edge_compute_ms': '20',
                },
            )
        else:
            monitor.probe_reply(when, what)
    estimate = monitor.link.estimate(19.0)
    assert estimate.rtt_ms == pytest.approx(10.0, abs=2.0)  # the path's, not the queue's
    assert estimate.goodput_mbps < 0.6  # the queue counts against the link: a leaner code is needed


def busy_until_at(events: list, now: float) -> float:
    """When the uplink is free of the frames sent by `now` (their arrival at the edge)."""
    return max((when - 0.010 for when, kind, _, sent in events if kind == 'head' and sent <= now), default=0.0)


def test_a_frame_that_fell_back_is_lost_unless_its_late_answer_comes():
    monitor = monitor_for(model(), lost_after_s=2.0)
    run_probes(monitor, 0.0, 3.0, 0.005, 10.0)
    values = {'mode': 'split', 'split': 'b', 'bytes': '10000'}
    monitor.on_head(3.0, 'late-one', 'fallback', values)
    monitor.on_head(3.0, 'lost-one', 'fallback', values)
    monitor.on_head(3.5, 'late-one', 'late', {**values, 'edge_rtt_ms': '400'})
    assert monitor.link.estimate(4.0).loss == 0.0
    monitor.next_probe(5.5)  # the timer sees the other one still unanswered 2.5 s after its fallback
    estimate = monitor.link.estimate(5.5)
    assert 0.0 < estimate.loss < 0.5


def test_the_edges_own_time_comes_off_the_round_trip_and_a_refusal_loads_the_edge():
    monitor = monitor_for(model())
    run_probes(monitor, 0.0, 3.0, 0.005, 1.0)  # a 1 Mbit/s link with a 5 ms RTT
    edge = {'mode': 'split', 'split': 'b', 'bytes': '10000', 'edge_queue_ms': '30', 'edge_compute_ms': '20'}
    for frame in range(30, 50):  # 10 KB in 80 ms + 5 ms RTT, and 50 ms at the edge
        monitor.on_head(frame * 0.1, f'f{frame}', 'edge', {**edge, 'edge_rtt_ms': '135'})
    assert monitor.link.estimate(5.0).goodput_mbps == pytest.approx(1.0, rel=0.2)
    loaded = monitor.edge_scale.value
    assert loaded == pytest.approx(50 / model().edge.tail_ms['b'].median, rel=0.01)
    refused = {**edge, 'edge_status': 'busy', 'edge_queue_ms': '0', 'edge_compute_ms': '0', 'edge_rtt_ms': '85'}
    for frame in range(50, 90):  # the edge refuses every frame at once: a fallback, yet the link is measured
        monitor.on_head(frame * 0.1, f'f{frame}', 'fallback', refused)
    estimate = monitor.link.estimate(9.0)
    assert estimate.loss == 0.0 and estimate.goodput_mbps == pytest.approx(1.0, rel=0.2)
    assert monitor.edge_scale.value > loaded  # as if the edge took the whole deadline


def test_the_monitor_gives_the_policy_the_cameras_frame_rate():
    """The head's telemetry sets the rate at which a choice's codes fill the uplink (0 would disable the check)."""
    from splitee_ros.control.monitor import LinkMonitor, MonitorSettings

    latency = model()
    monitor = LinkMonitor(
        MonitorSettings(), latency, Policy(latency, PolicySettings(deadline_ms=100.0, modes=('split',)))
    )
    run_probes(monitor, 0.0, 3.0, 0.005, 1.0)
    edge = {'mode': 'split', 'split': 'b', 'bytes': '10000', 'edge_rtt_ms': '85', 'edge_queue_ms': '0',
            'edge_compute_ms': '0'}  # fmt: skip
    for frame in range(15, 40):  # 5 FPS
        monitor.on_head(frame * 0.2, f'f{frame}', 'edge', edge)
    decision = monitor.decide(8.0)
    assert decision is not None and decision.prediction.bytes_per_frame > 0
    expected = decision.prediction.bytes_per_frame * 8 * 5.0 / (monitor.link.estimate(8.0).goodput_mbps * 1e6)
    assert decision.prediction.uplink_share == pytest.approx(expected, rel=0.3)


def test_no_decision_before_the_link_is_measured_and_one_change_while_settling():
    latency = model(3.0)
    monitor = monitor_for(latency)
    assert monitor.due(0.0) and monitor.decide(0.0) is None  # nothing measured: the head keeps its settings
    policy = monitor.policy
    policy.start(Choice('offload-image', jpeg_quality=50), 0.0)
    run_probes(monitor, 0.0, 4.0, 0.002, 100.0)
    decisions = [monitor.decide(now) for now in np.arange(4.0, 9.0, 0.5)]  # after the 5 s dwell
    assert all(d is not None for d in decisions)
    changed = [d for d in decisions if d.changed]  # better, on enough decisions in a row to trust it
    assert [d.choice for d in changed] == [Choice('offload-image', jpeg_quality=90)]
    # a link that leaves q90 images short of the target (P(hit) about 0.84), though not far off it
    shaky = LinkState(2.0, 50.0, goodput_quantiles_mbps=tuple(np.linspace(5.0, 100.0, 21)))
    changes = [now for now in np.arange(9.0, 14.0, 0.5) if policy.decide(float(now), shaky).changed]
    assert changes and min(changes) >= 10.0  # nothing else within the first 10 s, then the policy moves


def test_simulated_exits_cost_the_head_alone_and_late_answers_count_as_nothing():
    latency = model(3.0)  # heads take 30 ms (a) and 60 ms (b) on this vehicle, the whole model 180 ms
    trace = step_trace(high=20.0, low=20.0, phase_s=5.0)
    exits = Simulator(latency, trace, deadline_ms=35.0).run(Choice('split', 'a', 'int8+zstd3', 0.0))
    assert exits.hit_rate == 1.0 and exits.mean_accuracy == pytest.approx(0.10)  # the exit encodes nothing
    late_exits = Simulator(latency, trace, deadline_ms=55.0).run(Choice('split', 'b', 'int8+zstd3', 0.0))
    assert late_exits.hit_rate == 0.0 and late_exits.mean_accuracy == 0.0
    local = Simulator(latency, trace, deadline_ms=100.0).run(Choice('local'))
    assert local.hit_rate == 0.0 and local.mean_accuracy == 0.0  # late answers are no answers in time
    overrun = Simulator(latency, trace, deadline_ms=55.0).run(Choice('split', 'b', 'int8+zstd3', 1.0))
    assert overrun.hit_rate == 0.0 and overrun.mean_bytes == 0.0  # heads past the deadline: dropped, not sent
    in_time = Simulator(latency, trace, deadline_ms=100.0).run(Choice('split', 'b', 'int8+zstd3', 1.0))
    assert in_time.mean_bytes > 0


def test_the_edge_checks_of_exits_correct_what_an_exit_is_worth():
    latency = model()
    curve = tuple(ExitPoint(p.threshold, p.exit_rate, p.map50, agreement=0.8)
                  for p in latency.accuracy.exit_curves['b'])  # fmt: skip
    accuracy = replace(latency.accuracy, exit_curves={**latency.accuracy.exit_curves, 'b': curve})
    latency = LatencyModel(replace(latency.profile, accuracy=accuracy), latency.vehicle, latency.edge)
    monitor = monitor_for(latency)
    check = {'mode': 'split', 'split': 'b', 'exit_threshold': '0.5', 'bytes': '10000', 'edge_rtt_ms': '30'}
    for n in range(9):
        monitor.on_head(float(n), f'k{n}', 'exit_check', {**check, 'agreement': '0.4'})
    assert monitor.exit_scale() == {}  # too few checks to trust
    monitor.on_head(9.0, 'k9', 'exit_check', {**check, 'agreement': '0.4'})
    assert monitor.exit_scale() == {'b': pytest.approx(0.5)}  # half the agreement the evaluation promised
    link = LinkState(2.0, 10.0)
    mixed = Choice('split', 'b', 'int8+zstd3', 0.5)
    (trusted,) = latency.predict_all([mixed], link, 100.0)
    (corrected,) = latency.predict_all([mixed], link, 100.0, exit_scale=monitor.exit_scale())
    assert corrected.accuracy < trusted.accuracy
