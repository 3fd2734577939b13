"""Command lines of every pipeline step.

Each module has ``main(argv=None)``; run it as ``python -m
mmseg_sipe.cli.<step>``, through the ``tools/<step>.py`` shims of a checkout,
or through the console scripts installed with the package (``sipe-train``,
``sipe-make-cam``, ... -- see ``setup.py``), whose entry points are the
``sipe_<step>`` functions here.
"""
import importlib


def _entry(module: str):
    """A console-script entry point running ``<module>.main`` with one-line
    errors."""

    def run():
        from ..utils.cli import run_cli
        try:
            main = importlib.import_module(f'{__name__}.{module}').main
        except ImportError as e:  # e.g. the version gate
            raise SystemExit(f'error: {e}')
        rc = run_cli(main)
        if isinstance(rc, int):
            raise SystemExit(rc)

    run.__name__ = module
    return run


sipe_train = _entry('train')
sipe_test = _entry('test')
sipe_make_cam = _entry('make_cam')
sipe_eval_cam = _entry('eval_cam')
sipe_cam2ir = _entry('cam2ir')
sipe_eval_seg_labels = _entry('eval_seg_labels')
sipe_make_seg_labels = _entry('make_seg_labels')
sipe_visualize_pseudo_labels = _entry('visualize_pseudo_labels')
sipe_run_pipeline = _entry('run_pipeline')
sipe_make_demo_dataset = _entry('make_demo_dataset')
sipe_diagnose = _entry('diagnose')
sipe_class_stats = _entry('class_stats')
sipe_voc_aug = _entry('voc_aug')
sipe_coco_wsss = _entry('coco_wsss')
sipe_check_dataset = _entry('check_dataset')
sipe_make_cls_labels = _entry('make_cls_labels')
