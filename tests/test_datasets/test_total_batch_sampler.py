"""TotalBatchSampler: the total batch is the same whatever starts the run --
tools/dist_train.sh, or mmseg's own tools/train.py logic (Config.fromfile +
Runner.from_cfg)."""
import json
import os.path as osp
import sys

import pytest
from mmengine.config import Config
from torch.utils.data import BatchSampler, SequentialSampler

from mmseg_sipe.datasets import TotalBatchSampler
from sipe_testing import HELPERS, free_port, run_tool, tool_env


@pytest.mark.parametrize('world,per_process', [(1, 16), (2, 8), (4, 4),
                                               (16, 1)])
def test_splits_the_total_over_processes(world, per_process):
    sampler = SequentialSampler(range(37))
    batches = list(TotalBatchSampler(sampler, 16, drop_last=True,
                                     world_size=world))
    assert all(len(b) == per_process for b in batches)
    # on each process exactly torch's BatchSampler with the per-process size
    assert batches == list(BatchSampler(sampler, per_process, True))


def test_keeps_an_incomplete_batch_without_drop_last():
    batches = list(TotalBatchSampler(SequentialSampler(range(10)), 8,
                                     world_size=2))
    assert [len(b) for b in batches] == [4, 4, 2]


@pytest.mark.parametrize('total', [16, 0])
def test_total_not_divisible_names_the_key(total):
    with pytest.raises(ValueError, match=r'train_dataloader\.batch_size='
                       f'{total} is the total batch'):
        TotalBatchSampler(SequentialSampler(range(4)), total, world_size=3)


def test_stage_one_configs_use_it(repo_root):
    for name, total in (('voc_r50', 16), ('coco_r50', 16),
                        ('irn_voc_r50', 32)):
        cfg = Config.fromfile(f'{repo_root}/configs/sipe/{name}.py')
        loader = cfg.train_dataloader
        assert loader.batch_size == total, name
        assert loader.batch_sampler.type == 'TotalBatchSampler', name
        assert 'drop_last' not in loader  # it belongs to the batch sampler


def _record_opts(data_root):
    """Options (key=value) shared by both launches: batch 16 (voc_r50's
    total), one epoch, no validation."""
    return [
        f'data_root={data_root}',
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=16', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=5',
        'param_scheduler.0.end=1', 'default_hooks.checkpoint.interval=5',
        'default_hooks.checkpoint.save_last=False',
    ]


def _recording_config(tmp_path, repo_root, out):
    """The demo child of voc_r50.py plus a hook recording batch sizes."""
    path = tmp_path / f'record_{osp.basename(out)}.py'
    path.write_text(
        f"_base_ = [{osp.join(repo_root, 'configs/sipe/demo_r18.py')!r}]\n"
        "custom_imports = dict(imports=['mmseg_sipe', 'batch_recorder'], "
        "allow_failed_imports=False)\n"
        f"custom_hooks = [dict(type='BatchRecorderHook', out={out!r})]\n")
    return str(path)


@pytest.fixture(scope='module')
def demo_32(tmp_path_factory):
    """A demo dataset with 32 training images (train_aug): 2 steps of 16."""
    from mmseg_sipe.datasets.demo import generate_demo_dataset
    root = tmp_path_factory.mktemp('demo32') / 'demo'
    generate_demo_dataset(str(root), num_train=8, num_val=2, num_aug=24,
                          size=(64, 96), seed=0)
    return str(root)


@pytest.mark.integration
def test_runner_from_cfg_and_dist_train_give_the_same_total_batch(
        demo_32, tmp_path, repo_root):
    split = osp.join(demo_32, 'ImageSets/Segmentation/train_aug.txt')
    with open(split) as f:
        num_images = len(f.read().split())
    env = tool_env(extra_pythonpath=[HELPERS])
    results = {}
    # (a) mmseg's own train.py logic: Config.fromfile + Runner.from_cfg
    out_a = str(tmp_path / 'from_cfg.json')
    run_tool([sys.executable, '-m', 'torch.distributed.run',
              '--nproc_per_node=2', f'--master_port={free_port()}',
              osp.join(HELPERS, 'from_cfg_train.py'),
              _recording_config(tmp_path, repo_root, out_a), '--work-dir',
              str(tmp_path / 'work_a'), '--cfg-options',
              *_record_opts(demo_32)], env=env)
    # (b) our launcher
    out_b = str(tmp_path / 'dist_train.json')
    env_b = dict(env, PORT=str(free_port()))
    proc = run_tool(['bash', 'tools/dist_train.sh',
                     _recording_config(tmp_path, repo_root, out_b), '2',
                     '--work-dir', str(tmp_path / 'work_b'), '--cfg-options',
                     *_record_opts(demo_32)], env=env_b)
    assert 'total batch 16 = 2 process(es) x 8 images' in \
        proc.stdout + proc.stderr
    for name, path in (('from_cfg', out_a), ('dist_train', out_b)):
        with open(path) as f:
            results[name] = json.load(f)
    for name, res in results.items():
        assert res['world_size'] == 2, name
        steps = num_images // 16
        assert res['per_rank'] == [[8] * steps, [8] * steps], name
    assert results['from_cfg'] == results['dist_train']
