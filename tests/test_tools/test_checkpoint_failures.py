"""Checkpoint and loading failures through the real tools: one line naming
the file or key, exit code 1, nothing half-written, and a rerun recovers.
Tiny runs on a generated demo dataset (1-2 epochs of 2 iterations)."""
import copy
import os
import os.path as osp
import shutil
import sys

import pytest
import torch

from pickle_payload import save_payload
from sipe_testing import HELPERS, free_port, run_tool, tool_env
from sipe_testing import demo_train_opts as opts

CFG = 'configs/sipe/demo_r18.py'
pytestmark = pytest.mark.integration


def error_lines(proc):
    return [ln for ln in (proc.stdout + proc.stderr).splitlines()
            if ln.startswith('error: ')]


def assert_one_line_error(proc, *needles):
    assert proc.returncode == 1, proc.stderr[-3000:]
    lines = error_lines(proc)
    assert len(lines) == 1, proc.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    return lines[0]


def train(work, data, epochs, extra=(), cfg=CFG, env=None, check=True,
          resume=False):
    args = [sys.executable, 'tools/train.py', str(cfg), '--work-dir',
            str(work)]
    if resume:
        args.append('--resume')
    return run_tool(args + opts(data, epochs=epochs, extra=list(extra)),
                    env=env, check=check)


def child_config(tmp_path, name, body):
    path = tmp_path / f'{name}.py'
    path.write_text(f"_base_ = ['{osp.abspath(CFG)}']\n{body}")
    return str(path)


def test_disk_full_leaves_no_partial_checkpoint_and_resume_recovers(
        tiny_demo, tmp_path):
    work = tmp_path / 'work'
    env = tool_env(extra_pythonpath=[HELPERS])
    env['SIPE_TEST_DISK_FULL'] = 'epoch_2.pth'
    full = child_config(
        tmp_path, 'demo_disk_full',
        "custom_imports = dict(imports=['mmseg_sipe', 'disk_full'], "
        'allow_failed_imports=False)\n')
    proc = train(work, tiny_demo, 2, cfg=full, env=env, check=False)
    line = assert_one_line_error(proc, str(work / 'epoch_2.pth'),
                                 'No space left on device')
    assert '--resume' in line
    assert not [n for n in os.listdir(work) if '.tmp' in n]
    assert not (work / 'epoch_2.pth').exists()
    assert (work / 'last_checkpoint').read_text().strip().endswith(
        'epoch_1.pth')
    assert torch.load(work / 'epoch_1.pth', map_location='cpu',
                      weights_only=False)['meta']['epoch'] == 1
    # space freed: the rerun resumes the last complete checkpoint
    again = train(work, tiny_demo, 2, resume=True)
    assert 'resumed epoch: 1' in again.stdout + again.stderr
    assert (work / 'epoch_2.pth').is_file()


def test_resume_in_copied_work_dir_after_original_is_gone(tiny_demo,
                                                         tmp_path):
    orig, moved = tmp_path / 'orig', tmp_path / 'moved'
    train(orig, tiny_demo, 1)
    assert (orig / 'last_checkpoint').read_text().strip() == \
        str(orig / 'epoch_1.pth')
    shutil.copytree(orig, moved)
    shutil.rmtree(orig)
    proc = train(moved, tiny_demo, 2, resume=True)
    out = proc.stdout + proc.stderr
    assert 'resumed epoch: 1' in out
    assert str(moved / 'epoch_1.pth') in out
    assert (moved / 'epoch_2.pth').is_file()
    assert not orig.exists()


@pytest.mark.parametrize('case', ['another_model', 'payload'])
def test_test_py_refuses_checkpoint(tiny_demo, tmp_path, repo_root, case):
    """A checkpoint of another model is one line (counts, first keys), not
    a 'missing keys' log line and a random model's mIoU; a pickle payload
    given on the command line is not run."""
    marker = tmp_path / 'pwned'
    ckpt = tmp_path / f'{case}.pth'
    if case == 'another_model':
        import mmseg_sipe  # noqa: F401
        from mmseg_sipe.registry import MODELS
        from mmseg_sipe.utils.config import load_config
        cfg = load_config(osp.join(repo_root, CFG))
        model_cfg = copy.deepcopy(cfg.model)
        model_cfg.backbone.base_channels = 64  # another width
        model_cfg.head.in_channels = (64, 128, 256, 512)
        torch.save(dict(state_dict=MODELS.build(model_cfg).state_dict()),
                   ckpt)
        needles = (str(ckpt), 'does not fit the model',
                   '100 shape mismatch(es)', '+95 more')
    else:
        save_payload(ckpt, marker)
        needles = (str(ckpt), 'refusing to unpickle',
                   'SIPE_TRUSTED_CHECKPOINT_DIRS')
    proc = run_tool([sys.executable, 'tools/test.py', CFG, str(ckpt),
                     '--work-dir', str(tmp_path / 'test'),
                     *opts(tiny_demo)], check=False)
    assert_one_line_error(proc, *needles)
    assert 'Test results' not in proc.stdout
    assert not marker.exists()


def test_make_cam_does_not_unpickle_named_checkpoint(tiny_demo, tmp_path):
    marker = tmp_path / 'pwned'
    ckpt = tmp_path / 'stage1.pth'
    save_payload(ckpt, marker)
    proc = run_tool([sys.executable, 'tools/make_cam.py', CFG, str(ckpt),
                     '--out-dir', str(tmp_path / 'cam'), '--num-workers',
                     '0', '--data-root', tiny_demo], check=False)
    assert_one_line_error(proc, str(ckpt), 'refusing to unpickle')
    assert not marker.exists()


def test_dist_train_offline_pretrained_is_one_line_from_rank0(
        tiny_demo, tmp_path):
    """No network, no cache: one line naming the URL and the config key,
    printed by rank 0 only; rank 1 does not report a broken connection."""
    url = 'http://127.0.0.1:9/resnet18_offline.pth'  # refused at once
    cfg = child_config(
        tmp_path, 'demo_offline',
        'model = dict(backbone=dict(init_cfg=dict(_delete_=True, '
        f"type='Pretrained', checkpoint='{url}')))\n")
    env = tool_env()
    env['PORT'] = str(free_port())
    env['TORCH_HOME'] = str(tmp_path / 'torch_home')
    proc = run_tool(['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir',
                     str(tmp_path / 'work'), *opts(tiny_demo)], env=env,
                    check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    lines = error_lines(proc)
    assert len(lines) == 1, out[-4000:]
    assert url in lines[0]
    assert '--cfg-options model.backbone.init_cfg=None' in lines[0]
    assert 'model.backbone.init_cfg.checkpoint' in lines[0]
    assert 'Connection closed by peer' not in out
    # no traceback at all: the launcher ends with one summary line instead
    # of torchrun's ChildFailedError box
    frames = [ln for ln in out.splitlines() if ln.strip().startswith('File')]
    assert not frames, out[-4000:]
    assert 'ChildFailedError' not in out
    assert '[launch] ' in out and 'process(es) failed' in out


@pytest.mark.parametrize('case', ['file_in_the_way', 'read_only'])
def test_unwritable_work_dir_is_one_line(tiny_demo, tmp_path, case):
    work = tmp_path / 'work'
    if case == 'file_in_the_way':
        work.write_text('not a directory')
    else:
        if os.geteuid() == 0:
            pytest.skip('root ignores directory permissions')
        tmp_path.joinpath('ro').mkdir(mode=0o500)
        work = tmp_path / 'ro' / 'work'
    proc = train(work, tiny_demo, 1, check=False)
    assert_one_line_error(proc, f'cannot write to the work dir {work}',
                          '--work-dir')
