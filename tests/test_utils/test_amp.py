"""``native_amp``: the low-precision type a device has fast kernels for."""
import pytest
import torch

from mmseg_sipe.utils import amp as amp_mod


@pytest.mark.parametrize('native_bf16, expected', [(True, 'bf16'),
                                                   (False, None)])
def test_cpu_gets_bf16_only_with_native_kernels(monkeypatch, native_bf16,
                                                expected):
    probed = []

    def probe(dtype):
        probed.append(dtype)
        return native_bf16
    monkeypatch.setattr(amp_mod, '_fast_half_on_cpu', probe)
    assert amp_mod.native_amp(torch.device('cpu')) == expected
    assert probed == [torch.bfloat16]


def test_cuda_gets_fp16_without_probing_the_cpu(monkeypatch):
    monkeypatch.setattr(amp_mod, '_fast_half_on_cpu',
                        lambda dtype: pytest.fail('CPU probed for CUDA'))
    assert amp_mod.native_amp('cuda') == 'fp16'


def test_default_device_follows_cuda_availability(monkeypatch):
    monkeypatch.setattr(amp_mod, '_fast_half_on_cpu', lambda dtype: False)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert amp_mod.native_amp() == 'fp16'
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert amp_mod.native_amp() is None
