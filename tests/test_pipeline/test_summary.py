"""The pipeline summary: mean ± std over seeds, per-step times, files."""
import json

from mmseg_sipe.pipeline import StepResult, summarize


def _run(cam, is_cam, secs):
    return [StepResult('stage1', secs, {'checkpoint': 'x.pth'}),
            StepResult('eval_cam', 1.0, {'CAM': cam, 'IS-CAM': is_cam,
                                         'CAM bg threshold': 0.1})]


def test_seeds_mean_std_and_files(tmp_path):
    runs = {0: _run(40.0, 50.0, 10.0), 1: _run(42.0, 54.0, 20.0),
            2: _run(44.0, 52.0, 30.0)}
    md = summarize(runs, str(tmp_path))
    # population std of (50, 54, 52) = 1.63
    assert '| IS-CAM ' in md and '52.00 ± 1.63' in md
    assert '42.00 ± 1.63' in md
    assert '50.00, 54.00, 52.00' in md
    assert '| stage1 ' in md and '20.0' in md  # mean time over seeds
    js = json.load(open(tmp_path / 'summary.json'))
    assert js['metrics']['1']['IS-CAM'] == 54.0
    assert (tmp_path / 'summary.md').read_text() == md


def test_single_run_has_no_std(tmp_path):
    md = summarize({0: _run(40.0, 50.0, 10.0)}, str(tmp_path))
    assert '| IS-CAM           | 50.00 ' in md and '±' not in md
