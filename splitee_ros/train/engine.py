# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""`splitee train CONFIG.yaml`: the stages of a YAML config in order, resumable, into a model package."""

from __future__ import annotations

import functools
import json
import math
import operator
import random
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from splitee_ros.errors import ConfigError, UnknownNameError
from splitee_ros.model.config import ModelConfig
from splitee_ros.model.families import build_detector
from splitee_ros.model.package import write_package
from splitee_ros.train.data import DetectionDataset, collate, open_dataset
from splitee_ros.train.registry import Registry
from splitee_ros.train.stages import STAGES, Stage

if TYPE_CHECKING:
    from splitee_ros.model.rate import RateLevels

OPTIMIZERS: Registry = Registry('optimizer')
OPTIMIZERS.register('adamw')(torch.optim.AdamW)
OPTIMIZERS.register('sgd')(torch.optim.SGD)


@dataclass(frozen=True)
class StageConfig:
    """One training stage."""

    name: str
    kind: str
    epochs: float = 1.0  # fractions train on part of the last epoch
    batch_size: int = 8
    optimizer: Mapping[str, Any] = field(default_factory=lambda: {'name': 'adamw', 'lr': 1e-3, 'weight_decay': 1e-4})
    warmup_iterations: int = 50
    checkpoint_every: int = 50  # iterations
    options: Mapping[str, Any] = field(default_factory=dict)
    init_from: str | None = None  # a finished stage of the same work dir: its tensors start this one's (`warm_start`)


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run."""

    model: ModelConfig
    train_data: Mapping[str, Any]
    calibration_data: Mapping[str, Any]
    stages: tuple[StageConfig, ...]
    output: Path
    work_dir: Path
    seed: int = 0
    threads: int = 2
    device: str = 'cpu'
    calibration_images: int = 200
    source: str | None = None  # the YAML file, recorded in the package

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        """Read a training config; paths in it are relative to the working directory."""
        data = yaml.safe_load(Path(path).read_text())
        known = {'model', 'data', 'stages', 'output', 'work_dir', 'seed', 'threads', 'device', 'calibration_images'}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f'{path}: unknown keys {unknown}; known: {sorted(known)}')
        stages = []
        for stage in data['stages']:
            if stage['kind'] not in STAGES:
                raise UnknownNameError(
                    f'{path}: unknown stage kind {stage["kind"]!r}; known: {", ".join(STAGES.names())}'
                )
            stages.append(StageConfig(**stage))
        return cls(
            model=ModelConfig.from_dict(data['model']),
            train_data=data['data']['train'],
            calibration_data=data['data'].get('calibration', data['data']['train']),
            stages=tuple(stages),
            output=Path(data['output']),
            work_dir=Path(data.get('work_dir', 'artifacts/train')),
            seed=int(data.get('seed', 0)),
            threads=int(data.get('threads', 2)),
            device=str(data.get('device', 'cpu')),
            calibration_images=int(data.get('calibration_images', 200)),
            source=str(path),
        )


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _rng_state() -> dict:
    return {'python': random.getstate(), 'numpy': np.random.get_state(), 'torch': torch.get_rng_state()}


def _set_rng_state(state: dict) -> None:
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])


def _learning_rate(iteration: int, total: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 5% of the base rate."""
    if iteration < warmup:
        return (iteration + 1) / warmup
    progress = (iteration - warmup) / max(1, total - warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def warm_start(modules: Mapping[str, nn.Module], checkpoint: Path) -> dict[str, Any]:
    """Copy a finished stage's tensors into `modules` wherever the module, the tensor's name and its shape match.

    A codec redesigned on one side (a leaner encoder) keeps the other side (the decoder) and its rate levels
    from the run it replaces, so its training starts near where that one ended.
    """
    if not checkpoint.is_file():
        raise FileNotFoundError(f'init_from: no checkpoint {checkpoint}; train that stage first')
    state = torch.load(checkpoint, map_location='cpu', weights_only=False)
    if not state['done']:
        raise ValueError(f'init_from: {checkpoint} holds an unfinished run (iteration {state["iteration"]})')
    copied, total = 0, 0
    for name, module in modules.items():
        source = state['modules'].get(name, {})
        target = module.state_dict()
        total += sum(value.dim() > 0 for value in target.values())
        matching = {k: v for k, v in source.items() if k in target and v.shape == target[k].shape}
        module.load_state_dict(matching, strict=False)
        copied += sum(value.dim() > 0 for value in matching.values())  # a batch-norm counter matches any other
    if not copied:
        raise ValueError(f"init_from: no tensor of {checkpoint} matches this stage's modules by name and shape")
    return {'stage': state['stage'], 'tensors': copied, 'of': total}


def train_stage(
    stage_config: StageConfig,
    stage: Stage,
    dataset: Callable[[], DetectionDataset],
    calibration: Callable[[], DataLoader],
    checkpoint: Path,
    seed: int,
    device: torch.device,
) -> dict[str, Any]:
    """Train one stage, resuming from `checkpoint` if it holds an unfinished run of it; return its log.

    A new run starts from the stage named by `init_from` where it can (`warm_start`). The data sets are opened
    (made, if synthetic) only when the stage has training left to do.
    """
    modules = stage.trained_modules()
    clipped = stage.clipped_parameters()
    options = dict(stage_config.optimizer)
    optimizer = OPTIMIZERS[options.pop('name')](stage.param_groups(float(options.get('lr', 1e-3))), **options)
    log: dict[str, Any] = {'losses': []}
    iteration = 0
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        for name, module in modules.items():
            module.load_state_dict(state['modules'][name])
        if state['done']:
            return state['log']
    elif stage_config.init_from:
        log['initialised_from'] = warm_start(modules, checkpoint.with_name(f'{stage_config.init_from}.pt'))
    started = time.monotonic()
    training_set = dataset()
    stage.prepare(training_set, device)
    batches_per_epoch = math.ceil(stage.size(training_set) / stage_config.batch_size)
    total = max(1, round(stage_config.epochs * batches_per_epoch))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: _learning_rate(i, total, stage_config.warmup_iterations)
    )
    if checkpoint.is_file():
        optimizer.load_state_dict(state['optimizer'])
        scheduler.load_state_dict(state['scheduler'])
        iteration, log = state['iteration'], state['log']
        log.setdefault('resumed_at', []).append(iteration)
        _set_rng_state(state['rng'])
    log['prepare_seconds'] = round(time.monotonic() - started, 1)
    spent_before = log.get('seconds', 0.0)  # wall time of earlier runs of this stage (it may have been resumed)

    def save(done: bool) -> None:
        log['seconds'] = round(spent_before + time.monotonic() - started, 1)
        log['threads'] = torch.get_num_threads()
        state = {
            'stage': stage_config.name, 'iteration': iteration, 'done': done, 'log': log, 'rng': _rng_state(),
            'modules': {name: module.state_dict() for name, module in modules.items()},
            'optimizer': optimizer.state_dict(), 'scheduler': scheduler.state_dict(),
        }  # fmt: skip
        temporary = checkpoint.with_suffix('.tmp')
        torch.save(state, temporary)
        temporary.replace(checkpoint)

    progress = tqdm(
        total=total, initial=iteration, desc=stage_config.name, unit='batch', dynamic_ncols=True,
        mininterval=0.5 if sys.stderr.isatty() else 30.0,
    )  # fmt: skip
    window: list[float] = []
    while iteration < total:
        epoch, offset = divmod(iteration, batches_per_epoch)
        training_set.epoch = epoch
        order = torch.randperm(stage.size(training_set), generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        remaining = order.tolist()[offset * stage_config.batch_size :]
        for batch in stage.batches(training_set, stage_config.batch_size, remaining, device):
            stage.train_mode()
            losses = stage.losses(batch)
            loss: torch.Tensor = functools.reduce(operator.add, losses.values())  # a stage has at least one loss
            if not torch.isfinite(loss):
                raise FloatingPointError(f'{stage_config.name}: loss is {float(loss)} at iteration {iteration}')
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(clipped, 10.0)
            optimizer.step()
            scheduler.step()
            iteration += 1
            window = [*window, loss.item()][-20:]
            progress.update(1)
            progress.set_postfix(loss=f'{np.mean(window):.4f}', lr=f'{scheduler.get_last_lr()[0]:.2e}')
            if iteration % batches_per_epoch == 0 or iteration == total:
                log['losses'].append({'iteration': iteration, **{k: round(v.item(), 5) for k, v in losses.items()}})
            if iteration % stage_config.checkpoint_every == 0:
                save(done=False)
            if iteration >= total:
                break
    progress.close()
    log |= stage.finish(calibration())
    save(done=True)
    return log


def run_training(config: TrainConfig) -> Path:
    """Run every stage of `config` (resuming finished and interrupted ones) and write the model package."""
    torch.set_num_threads(config.threads)
    _seed_everything(config.seed)
    work = config.work_dir
    (work / 'checkpoints').mkdir(parents=True, exist_ok=True)
    device = torch.device(config.device)
    detector = build_detector(config.model).to(device)
    class_names = config.model.class_names

    @functools.cache
    def dataset() -> DetectionDataset:
        train_set = open_dataset(config.train_data, class_names, work / 'data' / 'train')
        return DetectionDataset(train_set, detector.input_size, augment=True, seed=config.seed)

    @functools.cache
    def calibration() -> DataLoader:
        calibration_set = open_dataset(config.calibration_data, class_names, work / 'data' / 'calibration')
        images = DetectionDataset(calibration_set, detector.input_size)
        count = min(config.calibration_images, len(images))
        return DataLoader(Subset(images, range(count)), batch_size=8, collate_fn=collate)

    logs: dict[str, dict[str, Any]] = {}
    entropy_models: dict[str, RateLevels] = {}
    started = time.monotonic()
    for stage_config in config.stages:
        stage = STAGES[stage_config.kind](detector, stage_config.options)
        for module in stage.extra_modules.values():
            module.to(device)
        checkpoint = work / 'checkpoints' / f'{stage_config.name}.pt'
        logs[stage_config.name] = train_stage(
            stage_config, stage, dataset, calibration, checkpoint, config.seed, device
        )
        entropy_models |= stage.extra_modules
    detector.cpu().eval()
    for module in entropy_models.values():
        module.cpu().eval()
    seconds = round(time.monotonic() - started, 1)  # of this run: a resumed run counts from where it resumed
    training = {'training': {'config': config.source, 'seconds': seconds, 'seed': config.seed}}
    manifest = write_package(config.output, config.model, detector, entropy_models or None, training)
    (config.output / 'training_log.json').write_text(json.dumps(logs, indent=1, sort_keys=True) + '\n')
    return manifest
