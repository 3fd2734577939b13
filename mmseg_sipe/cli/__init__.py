"""Command lines of every pipeline step.

Each module has ``main(argv=None)``; run it as ``python -m
mmseg_sipe.cli.<step>``, through the ``tools/<step>.py`` shims of a checkout,
or through the console scripts installed with the package (``sipe-train``,
``sipe-make-cam``, ... -- see ``setup.py``).
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


train = _entry('train')
test = _entry('test')
make_cam = _entry('make_cam')
eval_cam = _entry('eval_cam')
cam2ir = _entry('cam2ir')
eval_seg_labels = _entry('eval_seg_labels')
make_seg_labels = _entry('make_seg_labels')
visualize_pseudo_labels = _entry('visualize_pseudo_labels')
run_pipeline = _entry('run_pipeline')
make_demo_dataset = _entry('make_demo_dataset')
