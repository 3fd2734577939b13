"""Test-only: a checkpoint whose unpickling runs code (creates a marker
file), to show that untrusted files are never unpickled."""
import os
import os.path as osp
import pathlib

import torch


class Payload:
    """Unpickling this calls ``pathlib.Path(marker).touch()``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker), ))


def save_payload(path, marker):
    """A checkpoint-looking file at ``path`` carrying a :class:`Payload`."""
    os.makedirs(osp.dirname(str(path)), exist_ok=True)
    torch.save({'state_dict': {'conv1.weight': torch.zeros(1)},
                'x': Payload(marker)}, str(path))
