"""Known, harmless start-up noise of the OpenMMLab stacks, silenced in one
place so that a newcomer's terminal shows our progress and real errors only.

* onedl-mmcv built without ops warns at import that
  ``MultiScaleDeformableAttention`` is unavailable (no SIPE model uses it);
* the official mmengine 0.10.7 imports ``pkg_resources`` on every scoped
  config, which warns that the API is deprecated;
* onedl-mmsegmentation / onedl-mmpretrain print ``Could not import OneDL``
  (their optional ``onedl`` extension is absent) through ``print_log``.

Nothing else is filtered: other warnings and printed lines pass unchanged.
"""
import contextlib
import io
import sys
import warnings

NOISE_WARNINGS = (
    (UserWarning, r'Fail to import ``MultiScaleDeformableAttention``'),
    (UserWarning, r'pkg_resources is deprecated'),
)
NOISE_LINES = ('Could not import OneDL', )


def silence_stack_warnings() -> None:
    """Ignore exactly the warnings in :data:`NOISE_WARNINGS`."""
    for category, message in NOISE_WARNINGS:
        warnings.filterwarnings('ignore', message=message, category=category)


@contextlib.contextmanager
def without_noise_lines():
    """Capture stdout in the block; print back every line except the ones in
    :data:`NOISE_LINES`."""
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            yield
    finally:
        kept = [ln for ln in buf.getvalue().splitlines(keepends=True)
                if ln.strip() not in NOISE_LINES]
        sys.stdout.write(''.join(kept))
