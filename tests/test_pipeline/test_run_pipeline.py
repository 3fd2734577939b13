"""The whole pipeline through tools/run_pipeline.py on a tiny demo dataset:
every step runs its real tool; a rerun skips finished steps; --from reruns
a range; the summary table is written."""
import pytest
import json
import os
import os.path as osp
import sys

from sipe_testing import ROOT, run_tool


def tiny_pipeline_config(tmp_path, data_root):
    small = ['train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
             'train_dataloader.persistent_workers=False',
             'val_dataloader.num_workers=0',
             'val_dataloader.persistent_workers=False',
             'test_dataloader.num_workers=0',
             'test_dataloader.persistent_workers=False']
    cfg = tmp_path / 'pipeline.py'
    cfg.write_text(f"""
_base_ = [{osp.join(ROOT, 'configs/pipeline/demo.py')!r}]
data_root = {data_root!r}
stage1_options = {small + ['train_cfg.max_epochs=2',
                           'train_cfg.val_interval=2',
                           'param_scheduler.0.end=2']!r}
irn_options = {['train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
                'train_dataloader.persistent_workers=False',
                'train_cfg.max_iters=3', 'param_scheduler.0.end=3',
                'default_hooks.checkpoint.interval=3']!r}
stage2_options = {small[1:] + ['train_dataloader.batch_size=2',
                               'train_cfg.max_iters=3',
                               'train_cfg.val_interval=3',
                               'param_scheduler.0.end=3',
                               'default_hooks.checkpoint.interval=3']!r}
cam = dict(split='train_aug', eval_split='train', scales=[1.0, 0.5],
           dtype='float16', num_workers=0)
crf = dict(num_workers=1)
vis_num = 2
""")
    return str(cfg)


@pytest.mark.integration
def test_pipeline_end_to_end_and_rerun(tiny_demo, tmp_path):
    cfg = tiny_pipeline_config(tmp_path, tiny_demo)
    work = str(tmp_path / 'work')
    p = run_tool([sys.executable, 'tools/run_pipeline.py', cfg,
                  '--work-dir', work], timeout=1500)
    out = p.stdout
    assert 'SIPE pipeline summary' in out
    for key in ('IS-CAM', 'CAM', '+CRF', '+IRN', 'stage2 val'):
        assert f'| {key} ' in out, (key, out[-3000:])
    summary = json.load(open(osp.join(work, 'summary.json')))
    metrics = next(iter(summary['metrics'].values()))
    for key in ('IS-CAM', 'CAM', '+CRF', '+IRN', 'stage2 val'):
        assert 0 <= metrics[key] <= 100
    assert osp.isfile(osp.join(work, 'visualization.png'))
    # IRN and stage two started their backbones from stage one's weights
    # (strict loads, through the child configs the pipeline wrote)
    for child in ('irn', 'stage2'):
        text = open(osp.join(work, 'configs', f'{child}.py')).read()
        assert osp.join(work, 'stage1', 'epoch_2.pth') in text, text
    n_aug = len(open(osp.join(tiny_demo, 'ImageSets/Segmentation/'
                              'train_aug.txt')).read().split())
    assert len(os.listdir(osp.join(work, 'pseudo_label'))) >= n_aug
    # rerun: every step skipped
    p2 = run_tool([sys.executable, 'tools/run_pipeline.py', cfg,
                   '--work-dir', work], timeout=600)
    assert p2.stdout.count('done before with the same inputs, skipped') == len(
        summary['steps'][next(iter(summary['steps']))])
    # --from/--to redoes a range (the random walk and its evaluation) from
    # scratch: every pseudo label is written again
    p3 = run_tool([sys.executable, 'tools/run_pipeline.py', cfg,
                   '--work-dir', work, '--from', 'make_seg_labels', '--to',
                   'eval_seg_labels'], timeout=600)
    assert 'make_seg_labels: redone (--from make_seg_labels)' in p3.stdout
    assert f'make_seg_labels: {n_aug} done, 0 skipped' in p3.stdout


@pytest.mark.integration
def test_unknown_step_is_reported(tiny_demo, tmp_path):
    cfg = tiny_pipeline_config(tmp_path, tiny_demo)
    p = run_tool([sys.executable, 'tools/run_pipeline.py', cfg,
                  '--work-dir', str(tmp_path / 'w'), '--from', 'nope'],
                 check=False)
    assert p.returncode == 1
    assert "unknown step 'nope'" in p.stderr.strip().splitlines()[-1]
