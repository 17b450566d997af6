# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The demo's report: annotated frames and a latency/decision timeline (PNG), tied together in report.html."""

from __future__ import annotations

import html
from pathlib import Path

import cv2
import numpy as np

from splitee_ros.data.coco import CocoDataset
from splitee_ros.ros.convert import msg_to_detections
from splitee_ros.ros.debug import draw_boxes
from splitee_ros.tools.harness import Collector

COLORS = {'exit': '#2ca02c', 'edge': '#1f77b4', 'fallback': '#d62728', 'local': '#9467bd'}


def write_report(out: Path, collector: Collector, dataset: CocoDataset, keys: dict, package, summary: dict) -> Path:
    """Write timeline.png, frame_*.png and report.html into `out`; return the HTML's path."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    head = collector.head_frames()
    ordered = sorted(keys.items(), key=lambda item: item[1])
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for outcome, color in COLORS.items():
        points = [
            (i, float(head[k][1]['latency_ms']), float(head[k][1].get('bytes', 0)))
            for i, (k, _) in enumerate(ordered)
            if k in head and head[k][0] == outcome
        ]
        if points:
            index, latency, sent = zip(*points, strict=True)
            top.scatter(index, latency, color=color, label=outcome, s=18)
            bottom.bar(index, np.array(sent) / 1e3, color=color)
    top.axhline(summary['deadline_ms'], color='gray', linestyle='--', label='deadline')
    top.set_ylabel('latency (ms)')
    top.legend(loc='upper right', fontsize=8)
    bottom.set_ylabel('kB sent')
    bottom.set_xlabel('frame')
    top.set_title(f'{summary["mode"]}: per-frame latency and decision')
    figure.tight_layout()
    figure.savefig(out / 'timeline.png', dpi=100)
    plt.close(figure)

    images = []
    index_of = {image['id']: n for n, image in enumerate(dataset.images)}
    for key, image_id in ordered[:: max(1, len(ordered) // 4)][:4]:
        n = index_of[image_id]
        canvas = dataset.image(n)
        truth = dataset.target(n)
        canvas = draw_boxes(canvas, truth.boxes, ['truth'] * len(truth.boxes), np.ones(len(truth.boxes)))
        if key in collector.results:
            found = msg_to_detections(collector.results[key][1], package.config.class_names)
            names = [package.config.class_names[label] for label in found.labels]
            canvas = draw_boxes(canvas, found.boxes, names, found.scores)
        name = f'frame_{image_id:04d}.png'
        cv2.imwrite(str(out / name), canvas)
        outcome = head.get(key, ('no result', {}))[0]
        images.append(
            f'<figure><img src="{name}" width="480"><figcaption>frame {image_id}: {outcome}</figcaption></figure>'
        )
    rows = ''.join(f'<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>' for k, v in summary.items())
    page = (
        '<!doctype html><meta charset="utf-8"><title>splitee_ros demo</title>'
        '<style>body{font-family:sans-serif} td{padding:2px 8px} figure{display:inline-block}</style>'
        f'<h1>splitee_ros demo: {html.escape(summary["mode"])}</h1><table>{rows}</table>'
        '<h2>Timeline</h2><img src="timeline.png">'
        '<h2>Frames</h2><p>Ground truth labelled "truth"; results with class and score.</p>' + ''.join(images)
    )
    path = out / 'report.html'
    path.write_text(page)
    return path
