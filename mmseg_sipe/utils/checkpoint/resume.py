"""Which checkpoint ``--resume`` continues from, also in a copied or moved
work dir (:func:`resolve_last_checkpoint`)."""
import os
import os.path as osp
import re
from typing import Optional

from .trust import real_path

_CKPT_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def resolve_last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint to resume in ``work_dir``, or None when the run has
    not saved one.

    mmengine's ``last_checkpoint`` holds an absolute path: in a copied work
    dir it names the *original* run's file, in a moved one a file that is
    gone.  A file of that name in ``work_dir`` itself wins; else the named
    path (checkpoints saved to another ``out_dir``); an empty or stale
    ``last_checkpoint`` falls back, with a warning, to the newest
    ``epoch_N.pth`` / ``iter_N.pth`` in ``work_dir``.

    Raises:
        FileNotFoundError: ``last_checkpoint`` names a file that is nowhere
            and ``work_dir`` holds no checkpoint.
    """
    from mmengine.logging import print_log
    save_file = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(save_file):
        return None
    with open(save_file) as f:
        named = f.read().strip()
    if named:
        local = osp.join(work_dir, osp.basename(named))
        if osp.isfile(local):
            if real_path(local) != real_path(named):
                print_log(f'last_checkpoint names {named}; resuming from '
                          f'the file of that name in this work dir: {local}',
                          logger='current')
            return local
        if osp.isfile(named):
            return named
    found = []
    for name in os.listdir(work_dir):
        m = _CKPT_NAME.match(name)
        if m:
            found.append((int(m.group(2)), name))
    if not found:
        raise FileNotFoundError(
            f'{save_file} names {named or "nothing"}, which does not exist, '
            f'and {work_dir} holds no epoch_N.pth / iter_N.pth; start '
            'without --resume, or pass --resume <checkpoint>')
    newest = osp.join(work_dir, max(found)[1])
    print_log(f'{save_file} names {named or "nothing"}, which does not '
              f'exist; resuming from the newest checkpoint instead: '
              f'{newest}', logger='current', level=30)
    return newest
