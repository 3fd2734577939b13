"""ImageBankHook (SFC's image bank, docs/method.md §17.5): against a
transcription of the reference's bank lines, blank slots, checkpoints, and
the bank under DDP (2 gloo processes)."""
import io
import os
import random

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmseg_sipe.engine.hooks import ImageBankHook
from mmseg_sipe.engine.hooks.image_bank_hook import _split

K = 6


def make_batch(step, n=4, size=8, k=K):
    """A collated batch as the data loader gives it (uint8 CHW crops)."""
    g = np.random.default_rng([step, n])
    inputs, samples = [], []
    for i in range(n):
        labels = np.zeros(k, np.float32)
        labels[g.choice(k, size=int(g.integers(1, 3)), replace=False)] = 1
        inputs.append(torch.from_numpy(
            g.integers(0, 256, (3, size, size), dtype=np.uint8)))
        ds = SegDataSample(metainfo=dict(
            img_labels=labels, img_shape=(size, size),
            ori_shape=(size, size), img_path=f's{step}_{i}.jpg'))
        valid = torch.ones(1, size, size, dtype=torch.uint8)
        valid[..., int(g.integers(4, size + 1)):] = 0
        ds.valid_mask = PixelData(data=valid)
        samples.append(ds)
    return dict(inputs=inputs, data_samples=samples)


def ref_bank(batches, seed, k=K, draws=4):
    """The reference's bank lines, transcribed (test-only): zero-filled
    image / mask / label slots, overwritten per image and class in batch
    order, then ``draws`` randint(0, k-1) indices appended."""
    rng = random.Random(seed)
    size = batches[0]['inputs'][0].shape[-1]
    slot = torch.zeros([k, 3, size, size])
    vm = torch.zeros([k, 1, size, size])
    target = torch.zeros([k, k])
    out = []
    for b in batches:
        img = torch.stack(b['inputs']).float()
        label = torch.stack([torch.from_numpy(s.metainfo['img_labels'])
                             for s in b['data_samples']])
        valid = torch.stack([s.valid_mask.data for s in b['data_samples']])
        for i in range(len(label)):
            argl = (label[i, :].squeeze() == 1).nonzero(
                as_tuple=False).squeeze()
            slot[argl] = img[i]
            vm[argl] = valid[i].float()
            target[argl] = label[i]
        picks = [rng.randint(0, k - 1) for _ in range(draws)]
        out.append((torch.cat([img] + [slot[p][None] for p in picks]),
                    torch.cat([label] + [target[p][None] for p in picks]),
                    torch.cat([valid.float()] + [vm[p][None]
                                                 for p in picks])))
    return out


def as_tensors(batch):
    return (torch.stack(batch['inputs']).float(),
            torch.stack([torch.as_tensor(s.metainfo['img_labels'])
                         for s in batch['data_samples']]),
            torch.stack([s.valid_mask.data for s in
                         batch['data_samples']]).float())


def assert_same_next_batch(hook, other, step):
    """Both hooks extend the same batch of ``step`` identically."""
    a, b = make_batch(step), make_batch(step)
    hook.extend_batch(a)
    other.extend_batch(b)
    for x, y in zip(as_tensors(a), as_tensors(b)):
        assert torch.equal(x, y)
    return b


def test_bank_matches_reference_transcription():
    hook = ImageBankHook(num_samples=4)
    hook.setup(K, seed=7)
    batches = [make_batch(s) for s in range(6)]
    expected = ref_bank(batches, seed=7)
    for b, (img, lab, valid) in zip(batches, expected):
        hook.extend_batch(b)
        assert len(b['inputs']) == len(b['data_samples']) == 4 + 4
        got = as_tensors(b)
        assert torch.equal(got[0], img)
        assert torch.equal(got[1], lab)
        assert torch.equal(got[2], valid)
    # later steps draw filled slots; the first step has blank ones
    slots = [b['data_samples'][-4:] for b in batches]
    assert any(s.metainfo['img_path'].startswith('<empty')
               for s in slots[0]) or all(x is not None for x in hook.slots)


def test_blank_slots_and_skip_empty():
    batch = make_batch(0, n=1)
    batch['data_samples'][0].set_metainfo(
        dict(img_labels=np.eye(K, dtype=np.float32)[2]))
    hook = ImageBankHook(num_samples=50)
    hook.setup(K, seed=0)
    hook.extend_batch(batch)
    added = batch['data_samples'][1:]
    assert {s.metainfo['image_bank_slot'] for s in added} == set(range(K))
    for img, ds in zip(batch['inputs'][1:], added):
        if ds.metainfo['image_bank_slot'] == 2:
            assert torch.equal(img, batch['inputs'][0])
            assert ds.metainfo['img_labels'][2] == 1
            assert ds is not batch['data_samples'][0]  # a fresh copy
        else:  # blank: zero image, no label, zero valid mask
            assert img.abs().sum() == 0 and img.dtype == torch.uint8
            assert ds.metainfo['img_labels'].sum() == 0
            assert ds.valid_mask.data.sum() == 0
    hook = ImageBankHook(num_samples=10, skip_empty_slots=True)
    hook.setup(K, seed=0)
    batch = make_batch(0, n=1)
    batch['data_samples'][0].set_metainfo(
        dict(img_labels=np.eye(K, dtype=np.float32)[4]))
    hook.extend_batch(batch)
    assert [s.metainfo['image_bank_slot']
            for s in batch['data_samples'][1:]] == [4] * 10


def test_bank_copies_are_independent_of_the_batch():
    hook = ImageBankHook(num_samples=0)
    hook.setup(K, seed=0)
    batch = make_batch(1)
    hook.extend_batch(batch)
    before = [None if s is None else s[0].clone() for s in hook.slots]
    for t in batch['inputs']:
        t.zero_()  # the pre-processor may reuse the batch's memory
    batch['data_samples'][0].set_metainfo(dict(img_path='changed'))
    for s, b in zip(hook.slots, before):
        if s is not None:
            assert torch.equal(s[0], b)
            assert s[1].metainfo['img_path'] != 'changed'


def test_state_round_trip_is_weights_only_safe():
    hook = ImageBankHook(num_samples=4)
    hook.setup(K, seed=3)
    for s in range(3):
        hook.extend_batch(make_batch(s))
    buf = io.BytesIO()
    torch.save({'sfc_image_bank': hook.state()}, buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)['sfc_image_bank']
    other = ImageBankHook(num_samples=4)
    other.setup(K, seed=99)
    other.load_state(state)
    b = assert_same_next_batch(hook, other, 10)
    assert b['data_samples'][-1].metainfo['img_shape'] == (8, 8)
    with pytest.raises(ValueError, match='slots'):
        small = ImageBankHook()
        small.setup(K - 1, seed=0)
        small.load_state(state)


def test_checkpoint_hooks_restore_on_resume():
    from types import SimpleNamespace
    runner = SimpleNamespace(model=SimpleNamespace(num_classes=K), seed=5)
    hook = ImageBankHook(num_samples=4)
    hook.before_train(runner)  # K from the model, seed from the runner
    assert len(hook.slots) == K
    hook.extend_batch(make_batch(0))
    ckpt = {}
    hook.before_save_checkpoint(runner, ckpt)
    resumed = ImageBankHook(num_samples=4)
    resumed.after_load_checkpoint(runner, ckpt)  # before before_train
    resumed.before_train(runner)
    assert_same_next_batch(hook, resumed, 1)
    off = ImageBankHook(save_in_checkpoint=False)
    off.before_train(runner)
    ckpt = {}
    off.before_save_checkpoint(runner, ckpt)
    assert ckpt == {}


def test_arguments_and_shares():
    with pytest.raises(ValueError, match='share'):
        ImageBankHook(share='all')
    with pytest.raises(ValueError, match='num_samples'):
        ImageBankHook(num_samples=-1)
    assert [_split(4, 4, r) for r in range(4)] == [(0, 1), (1, 2), (2, 3),
                                                   (3, 4)]
    assert [_split(4, 3, r) for r in range(3)] == [(0, 2), (2, 3), (3, 4)]
    assert [_split(4, 8, r)[1] - _split(4, 8, r)[0]
            for r in range(8)] == [1, 1, 1, 1, 0, 0, 0, 0]
    hook = ImageBankHook()
    hook.setup(K, seed=0)
    batch = make_batch(0)
    batch['data_samples'][0].set_metainfo(
        dict(img_labels=np.ones(K + 1, np.float32)))
    with pytest.raises(ValueError, match='labels'):
        hook.extend_batch(batch)


def _ddp_worker(rank, world, port, out):
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        for share in ('global', 'local'):
            hook = ImageBankHook(num_samples=4, share=share)
            hook.setup(K, seed=11, rank=rank)
            sizes, picks = [], []
            for step in range(4):
                full = make_batch(step, n=4)  # the step's 4 images
                lo, hi = _split(4, world, rank)  # this process's shard
                b = dict(inputs=full['inputs'][lo:hi],
                         data_samples=full['data_samples'][lo:hi])
                hook.extend_batch(b)
                sizes.append(len(b['inputs']))
                picks.append([s.metainfo['image_bank_slot']
                              for s in b['data_samples'][hi - lo:]])
            bank = [None if s is None else s[0] for s in hook.slots]
            torch.save(dict(sizes=sizes, picks=picks, bank=bank),
                       os.path.join(out, f'{share}_{rank}.pt'))
    finally:
        dist.destroy_process_group()


@pytest.mark.integration
def test_bank_under_ddp(tmp_path):
    import torch.multiprocessing as mp

    from sipe_testing import free_port
    world = 2
    mp.spawn(_ddp_worker, args=(world, free_port(), str(tmp_path)),
             nprocs=world, join=True)
    single = ImageBankHook(num_samples=4)
    single.setup(K, seed=11)
    one = []
    for step in range(4):
        b = make_batch(step, n=4)
        single.extend_batch(b)
        one.append([s.metainfo['image_bank_slot']
                    for s in b['data_samples'][4:]])
    for share in ('global', 'local'):
        res = [torch.load(tmp_path / f'{share}_{r}.pt', weights_only=True)
               for r in range(world)]
        # 2 + 2 images per process: 4 + 4 per step over both, as on one
        assert [r['sizes'] for r in res] == [[4] * 4, [4] * 4], share
        if share == 'global':
            # identical banks on both processes, equal to the one-process
            # bank, and the same 4 draws split 2 + 2
            for r in res:
                for a, b in zip(r['bank'], single.slots):
                    assert (a is None) == (b is None)
                    if a is not None:
                        assert torch.equal(a, b[0])
            assert [p0 + p1 for p0, p1 in zip(res[0]['picks'],
                                              res[1]['picks'])] == one
        else:
            # each process's bank holds only its own images
            for rank, r in enumerate(res):
                lo, hi = _split(4, world, rank)
                own = {bytes(t.numpy()) for step in range(4)
                       for t in make_batch(step, n=4)['inputs'][lo:hi]}
                assert all(bytes(a.numpy()) in own for a in r['bank']
                           if a is not None)
