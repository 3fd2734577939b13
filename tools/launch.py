"""``torch.distributed.run`` with a one-line ending (used by
``tools/dist_run.sh``, hence ``tools/dist_train.sh`` and
``tools/dist_test.sh``).

When a worker fails, torchrun raises ``ChildFailedError`` and prints its own
traceback and a box of per-rank details after the worker's message -- a
second wall of text after the one line that names the problem.  This wrapper
runs torchrun unchanged and ends a failed launch with one line (how many
processes failed, the first exit code) and that exit code:

    python tools/launch.py --nproc_per_node=4 SCRIPT ARGS...

It imports only torch (not mmseg_sipe), so it starts fast and a broken
environment is reported by the workers' own one-line errors.
"""
import sys


def main(argv=None) -> int:
    from torch.distributed.elastic.multiprocessing.errors import \
        ChildFailedError
    from torch.distributed.run import main as torchrun
    try:
        torchrun(argv)
    except ChildFailedError as exc:
        failures = getattr(exc, 'failures', {}) or {}
        codes = [getattr(f, 'exitcode', 1) for _, f in sorted(
            failures.items())]
        code = next((c for c in codes if isinstance(c, int) and c > 0), 1)
        print(f'[launch] {len(failures) or "some"} process(es) failed (first '
              f'exit code {code}); the reason is printed above',
              file=sys.stderr)
        return code
    return 0


if __name__ == '__main__':
    sys.exit(main())
