# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Training: the detection loss, the quick config end to end, resuming, and the errors of bad configs."""

import functools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torchvision.models.detection import _utils as det_utils
from torchvision.ops import boxes as box_ops

from splitee_ros.cli import main
from splitee_ros.codec.frame import FrameDecoder, encode_frame
from splitee_ros.model.config import ModelConfig
from splitee_ros.model.families import build_detector
from splitee_ros.model.package import ModelPackage, PackageChangedError, write_package
from splitee_ros.train.engine import TrainConfig, warm_start
from splitee_ros.train.losses import IGNORED, DetectionLoss
from splitee_ros.train.stages import STAGES

QUICK = 'config/train/demo_quick.yaml'
QUICK_MODEL = yaml.safe_load(Path(QUICK).read_text())['model']
pytestmark = pytest.mark.timeout(900)  # the quick run (training and its evaluation) sets up the first test that uses it


def targets():
    return [
        {'boxes': torch.tensor([[100.0, 100, 150, 180], [300, 200, 320, 240]]), 'labels': torch.tensor([1, 4]),
         'crowd': torch.tensor([False, False])},
        {'boxes': torch.zeros(0, 4), 'labels': torch.zeros(0, dtype=torch.int64),
         'crowd': torch.zeros(0, dtype=torch.bool)},
    ]  # fmt: skip


def test_detection_loss_is_torchvisions_retinanet_loss():
    torch.manual_seed(0)
    detector = build_detector(ModelConfig(family='splitee_demo', input_size=(240, 320)))
    outputs = detector(torch.rand(2, 3, 240, 320))
    anchors = detector.neck_head.anchors
    ours = DetectionLoss()(outputs['cls_logits'], outputs['bbox_regression'], anchors, targets())
    matcher = det_utils.Matcher(0.5, 0.4, allow_low_quality_matches=True)
    matched = [matcher(box_ops.box_iou(t['boxes'], anchors)) if len(t['boxes']) else torch.full((len(anchors),), -1)
               for t in targets()]  # fmt: skip
    theirs = detector.neck_head.head.compute_loss(targets(), outputs, [anchors] * 2, matched)
    for key in ('classification', 'bbox_regression'):
        assert torch.allclose(ours[key], theirs[key], rtol=1e-6), key
        assert ours[key] > 0


def test_anchors_in_crowd_regions_are_ignored():
    anchors = torch.tensor([[0.0, 0, 10, 10], [100, 100, 110, 110], [200, 200, 210, 210]])
    target = {'boxes': torch.tensor([[0.0, 0, 10, 10], [95, 95, 130, 130]]), 'labels': torch.tensor([1, 2]),
              'crowd': torch.tensor([False, True])}  # fmt: skip
    matched = DetectionLoss().match(anchors, target)
    assert matched.tolist() == [0, IGNORED, -1]


@pytest.fixture(scope='module')
def quick_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp('quick')
    config = yaml.safe_load(Path(QUICK).read_text())
    config['output'], config['work_dir'] = str(folder / 'package'), str(folder / 'work')
    path = folder / 'quick.yaml'
    path.write_text(yaml.safe_dump(config))
    torch.manual_seed(123)
    untrained = build_detector(TrainConfig.from_yaml(path).model).state_dict()
    assert main(['train', str(path)]) == 0
    return path, folder, untrained


def test_quick_config_trains_every_stage_into_a_package(quick_run):
    _, folder, untrained = quick_run
    package = ModelPackage.load(folder / 'package')
    detector = package.detector()
    trained = detector.state_dict()
    for prefix in ('backbone.', 'bottlenecks.', 'exits.'):
        changed = [
            k
            for k in trained
            if k.startswith(prefix) and k.endswith('weight') and not torch.equal(trained[k], untrained[k])
        ]
        assert changed, f'{prefix} did not train'
    log = json.loads((folder / 'package' / 'training_log.json').read_text())
    assert set(log) == {'teacher', 'bottleneck', 'bottleneck_cached', 'exits'}
    assert set(log['exits']['confidence_calibration']) == {'stage1', 'stage2'}
    # the package's learned codecs (a rate level each: stage2 has two) and wire spec work with its own codes
    spec = package.wire_spec()
    assert package.split_names == ['stage1', 'stage2']
    learned = {codec.name: codec for codec in spec.codecs.values() if codec.name.startswith('learned')}
    assert set(learned) == {'learned', 'learned.1'}
    with torch.no_grad():
        code = detector.head('stage2', exits=False)(torch.rand(1, 3, 240, 320))['code'].numpy()
    assert code.shape == spec.split_shapes[1]
    for codec in learned.values():
        frame = encode_frame(code, codec.for_split(1), package.model_id, 1, 0)
        decoded = FrameDecoder(spec).decode(frame).tensor
        assert abs(decoded - code).max() <= codec.for_split(1).error_bound(code)


def test_training_resumes_an_interrupted_stage(quick_run):
    path, folder, _ = quick_run
    checkpoint = folder / 'work' / 'checkpoints' / 'exits.pt'
    state = torch.load(checkpoint, weights_only=False)
    state['done'], state['iteration'] = False, 1
    torch.save(state, checkpoint)
    teacher_before = ModelPackage.load(folder / 'package').detector().backbone.state_dict()
    assert main(['train', str(path)]) == 0
    log = json.loads((folder / 'package' / 'training_log.json').read_text())
    assert log['exits']['resumed_at'] == [1]
    assert 'resumed_at' not in log['teacher']  # finished stages are not run again
    teacher_after = ModelPackage.load(folder / 'package').detector().backbone.state_dict()
    assert all(torch.equal(teacher_before[k], teacher_after[k]) for k in teacher_before)


def test_finished_stages_rebuild_the_package_without_making_their_data_again(quick_run):
    path, folder, _ = quick_run
    before = ModelPackage.load(folder / 'package').detector().state_dict()
    shutil.rmtree(folder / 'work' / 'data')
    assert main(['train', str(path)]) == 0
    assert not (folder / 'work' / 'data').exists()  # every stage was done: no data set was opened
    after = ModelPackage.load(folder / 'package').detector().state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_the_model_id_covers_weights_and_tables_and_a_changed_file_is_refused(quick_run, tmp_path):
    _, folder, untrained = quick_run
    package = ModelPackage.load(folder / 'package')
    assert set(package.manifest['files']) == {'weights.pt', 'entropy_tables.npz'}
    config = TrainConfig.from_yaml(folder / 'quick.yaml').model
    detector = build_detector(config)
    ids = []
    for name, state in (('trained', package.detector().state_dict()), ('untrained', untrained)):
        detector.load_state_dict(state)
        write_package(tmp_path / name, config, detector)  # the same manifest but for the weights' digest
        ids.append(ModelPackage.load(tmp_path / name).model_id)
    assert ids[0] != ids[1]
    changed = tmp_path / 'changed'
    shutil.copytree(folder / 'package', changed)
    weights = bytearray((changed / 'weights.pt').read_bytes())
    weights[-100] ^= 0xFF
    (changed / 'weights.pt').write_bytes(bytes(weights))
    with pytest.raises(PackageChangedError, match=r'weights\.pt is not the file its manifest was written with'):
        ModelPackage.load(changed)
    shutil.copy(folder / 'package' / 'weights.pt', changed / 'weights.pt')
    assert ModelPackage.load(changed).model_id == package.model_id
    (changed / 'entropy_tables.npz').unlink()
    with pytest.raises(FileNotFoundError, match=r'lists entropy_tables\.npz, which is missing'):
        ModelPackage.load(changed)


def test_a_leaner_encoder_starts_from_a_finished_codec_where_shapes_match(quick_run, tmp_path):
    _, folder, _ = quick_run
    checkpoint = folder / 'work' / 'checkpoints' / 'bottleneck_cached.pt'
    model = {**QUICK_MODEL, 'bottlenecks': {**QUICK_MODEL['bottlenecks']}}
    model['bottlenecks']['stage2'] = {**model['bottlenecks']['stage2'], 'encoder_hidden': 4, 'encoder_blocks': 0}
    detector = build_detector(ModelConfig.from_dict(model))
    lean = detector.bottleneck_at('stage2')
    assert len(lean.encoder) == 2 and len(lean.decoder) == 5  # one conv and the code's projection; decoder as before
    stage = STAGES['bottleneck'](detector, {'splits': ['stage2'], 'rate_levels': [0.01, 0.04]})
    report = warm_start(stage.trained_modules(), checkpoint)
    assert report['stage'] == 'bottleneck_cached' and 0 < report['tensors'] < report['of']
    finished = torch.load(checkpoint, weights_only=False)['modules']
    decoder = {k: v for k, v in finished['bottleneck.stage2'].items() if k.startswith('decoder.')}
    assert decoder and all(torch.equal(lean.state_dict()[k], v) for k, v in decoder.items())
    assert lean.encoder[0][0].weight.shape[0] == 4  # the new encoder keeps its own shape
    with pytest.raises(FileNotFoundError, match='train that stage first'):
        warm_start(stage.trained_modules(), tmp_path / 'missing.pt')
    unfinished = torch.load(checkpoint, weights_only=False)
    unfinished['done'] = False
    torch.save(unfinished, tmp_path / 'unfinished.pt')
    with pytest.raises(ValueError, match='unfinished run'):
        warm_start(stage.trained_modules(), tmp_path / 'unfinished.pt')


def test_bad_configs_are_refused(tmp_path):
    ssd = build_detector(ModelConfig(family='ssdlite320_mobilenet_v3_large'))
    with pytest.raises(ValueError, match='give it torchvision_weights'):
        STAGES['teacher'](ssd, {})
    plain = build_detector(ModelConfig(family='splitee_demo'))
    with pytest.raises(ValueError, match='needs bottlenecks'):
        STAGES['bottleneck'](plain, {})
    with pytest.raises(ValueError, match='needs exits'):
        STAGES['exits'](plain, {})
    with pytest.raises(ValueError, match=r"unknown options \['rate_weight'\]"):
        STAGES['bottleneck'](build_detector(ModelConfig.from_dict(QUICK_MODEL)), {'rate_weight': 0.1})
    config = yaml.safe_load(Path(QUICK).read_text())
    config['stages'][0]['kind'] = 'teachr'
    path = tmp_path / 'bad.yaml'
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(KeyError, match="unknown stage kind 'teachr'"):
        TrainConfig.from_yaml(path)


def test_coco_scorer_rewards_exactly_the_ground_truth(tmp_path):
    from splitee_ros.data.coco import CocoDataset
    from splitee_ros.data.synth_dataset import SynthConfig, make_synthetic_dataset
    from splitee_ros.model.config import DRIVING_CLASSES
    from splitee_ros.model.postprocess import Detections, PostprocessConfig
    from splitee_ros.train.evaluate import CocoScorer, published_detections

    make_synthetic_dataset(tmp_path, SynthConfig(seed=4, drives=2, frames=2, bag_storage=None))
    dataset = CocoDataset(tmp_path / 'annotations.json', DRIVING_CLASSES)
    scorer = CocoScorer(dataset)
    perfect, shifted = {}, {}
    for index, image in enumerate(dataset.images):
        target = dataset.target(index)
        keep = ~target.crowd
        boxes, labels = target.boxes[keep], target.labels[keep]
        scores = np.linspace(1.0, 0.5, len(labels), dtype=np.float32)
        perfect[image['id']] = Detections(boxes, scores, labels)
        height = (boxes[:, 3] - boxes[:, 1])[:, None]
        shifted[image['id']] = Detections(boxes + np.array([0, 0.6, 0, 0.6]) * height, scores, labels)
    assert scorer.score(perfect).map == pytest.approx(1.0)
    assert scorer.score(perfect).map50 == pytest.approx(1.0)
    assert scorer.score(shifted).map50 < 0.05  # shifted by 60% of their height: IoU < 0.5
    assert scorer.score({i: Detections.empty() for i in perfect}).map50 == 0.0
    assert scorer.score(perfect).published_map50 is None  # no deployed threshold given

    # As published: only the detections above the deployed threshold count.
    strict = CocoScorer(dataset, published=PostprocessConfig(score_thresh=0.75, detections_per_img=100))
    assert strict.score(perfect).map50 == pytest.approx(1.0)  # COCO's figure is unchanged
    published = {i: published_detections(d, strict.published) for i, d in perfect.items()}
    assert all(len(published[i]) < len(d) for i, d in perfect.items() if len(d) > 2)
    assert strict.score(perfect).published_map50 == pytest.approx(scorer.score(published).map50)
    assert strict.score(perfect).published_map50 < 1.0
    lenient = CocoScorer(dataset, published=PostprocessConfig(score_thresh=0.4, detections_per_img=100))
    assert lenient.score(perfect).published_map50 == pytest.approx(1.0)  # every score is above 0.4


def test_published_detections_are_what_postprocessing_at_the_deployed_threshold_gives():
    from splitee_ros.model.postprocess import PostprocessConfig, retinanet_detections
    from splitee_ros.train.evaluate import published_detections

    rng = np.random.default_rng(7)
    anchors_per_level = (200, 50)
    xy = rng.uniform(0, 200, (sum(anchors_per_level), 2)).astype(np.float32)
    anchors = np.concatenate([xy, xy + rng.uniform(8, 60, xy.shape).astype(np.float32)], axis=1)
    for trial in range(5):
        logits = rng.normal(-3.5, 1.5, (len(anchors), 4)).astype(np.float32)
        deltas = rng.normal(0, 0.2, (len(anchors), 4)).astype(np.float32)
        run = functools.partial(retinanet_detections, logits, deltas, anchors, anchors_per_level, (240, 320))
        deployed = PostprocessConfig(score_thresh=0.3, detections_per_img=100)
        evaluated = run(PostprocessConfig(score_thresh=0.05, detections_per_img=100))
        expected, got = run(deployed), published_detections(evaluated, deployed)
        assert 0 < len(got) < len(evaluated), trial
        order = np.argsort(-expected.scores, kind='stable')
        np.testing.assert_array_equal(got.scores, expected.scores[order])
        np.testing.assert_array_equal(got.boxes, expected.boxes[order])
        np.testing.assert_array_equal(got.labels, expected.labels[order])


def test_eval_writes_report_plot_and_model_card(quick_run, tmp_path, capsys):
    _, folder, _ = quick_run
    out = tmp_path / 'eval'
    args = [
        'eval',
        str(folder / 'package'),
        '--drives',
        '2',
        '--frames',
        '2',
        '--work-dir',
        str(tmp_path),
        '--out',
        str(out),
    ]
    assert main(args) == 0
    assert 'teacher mAP@.5' in capsys.readouterr().out
    report = json.loads((out / 'eval.json').read_text())
    assert report['images'] == 4
    assert set(report['splits']) == {'stage1', 'stage2'}
    levels = {'stage1': {'learned'}, 'stage2': {'learned', 'learned.1'}}  # the quick config's rate levels
    for split, entry in report['splits'].items():
        assert set(entry['accuracy']) == {'raw', 'fp16', 'int8', 'int6', 'int4'} | levels[split]
        assert len(entry['bytes']) == 30 + len(levels[split])
        assert entry['bytes']['int8'] < entry['bytes']['fp16'] < entry['bytes']['raw']
        assert set(entry['accuracy']['int8']['recall50']) >= {'pedestrian', 'cyclist'}
    exits = report['exits']['stage2']
    assert {row['threshold'] for row in exits['curve']} >= {0.0, 0.5, 1.0} and len(exits['curve']) == 21
    assert exits['curve'][0]['exit_rate'] == 1.0  # threshold 0: always exit
    assert exits['mixed_with'] in report['splits']['stage2']['accuracy']  # the split's code, not the teacher
    assert exits['curve'][-1]['exit_rate'] <= 1.0
    # every figure also as the nodes publish it (the deployed threshold keeps fewer detections: never more AP)
    published = [report['teacher'], *report['baselines'].values(), *report['video'].values(), exits['alone'],
                 *exits['curve'], *(s for e in report['splits'].values() for s in e['accuracy'].values())]  # fmt: skip
    assert all(0.0 <= entry['published_map50'] <= 1.0 for entry in published)
    assert len(report['baselines']) == 16 and {'jpeg10', 'jpeg95', 'webp50', 'png3'} <= set(report['baselines'])
    assert set(report['video']) == {f'h264crf{crf}' for crf in (18, 23, 28, 33, 38)}
    video = [report['video'][f'h264crf{crf}']['bytes'] for crf in (18, 38)]
    assert video[0] > video[1] > 0  # a higher CRF: fewer bytes
    noise = report['noise']
    assert noise['with_noise'] > noise['without_noise'] > 0
    point = report['operating_point']
    assert point['split'] in report['splits'] and 0.0 <= point['exit_threshold'] <= 1.0
    assert (out / 'rate_accuracy.png').stat().st_size > 10_000
    card = (out / 'MODEL_CARD.md').read_text()
    for heading in ('## Reproduce', '## Teacher', '## Split points and codecs', '## Exits', '## Baselines',
                    "## Rate at the teacher's accuracy", '## Operating point', 'pedestrian recall',
                    'as published'):  # fmt: skip
        assert heading in card
    assert 'splitee train' in card and 'Training schedule' in card


def test_eval_sets_the_package_defaults_without_changing_its_model_id(quick_run, tmp_path):
    from splitee_ros.model.package import write_defaults

    _, folder, _ = quick_run
    package = tmp_path / 'package'
    shutil.copytree(folder / 'package', package)
    before = ModelPackage.load(package)
    write_defaults(package, {'split': 'stage1', 'codec': 'learned', 'exit_threshold': 0.7})
    write_defaults(package, {'split': 'stage2', 'codec': 'int8+zstd3', 'exit_threshold': 0.6})
    after = ModelPackage.load(package)
    assert after.model_id == before.model_id and after.defaults['split'] == 'stage2'
    assert (package / 'manifest.yaml').read_text().count('defaults:') == 1


@pytest.mark.parametrize('name', sorted(path.stem for path in Path('config/train').glob('*.yaml')))
def test_shipped_training_configs_parse(name):
    config = TrainConfig.from_yaml(f'config/train/{name}.yaml')
    kinds = [stage.kind for stage in config.stages]
    assert kinds[0] == 'teacher' and kinds[-1] == 'exits' and set(kinds[1:-1]) == {'bottleneck'}
    detector = build_detector(config.model)
    assert set(detector.bottlenecks) == set(detector.split_points) and detector.exits
    for stage in config.stages:  # every stage's options are known to it
        STAGES[stage.kind](detector, stage.options)


def test_a_misspelt_name_is_a_one_line_error_of_the_command(tmp_path, capsys):
    config = yaml.safe_load(Path(QUICK).read_text())
    config['stages'][0]['kind'] = 'teachr'
    path = tmp_path / 'bad.yaml'
    path.write_text(yaml.safe_dump(config))
    assert main(['train', str(path)]) == 2
    message = capsys.readouterr().err.strip()
    assert "unknown stage kind 'teachr'" in message and len(message.splitlines()) == 1
    assert main(['model', 'info', 'splitee_dmeo']) == 2
    message = capsys.readouterr().err.strip()
    assert 'splitee_dmeo' in message and 'splitee_demo' in message and len(message.splitlines()) == 1
