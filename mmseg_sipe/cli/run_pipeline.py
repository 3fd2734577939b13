"""Run the whole SIPE pipeline (stage one -> IS-CAM -> CRF -> IRN -> pseudo
labels -> stage two) from one pipeline config, then print a summary table.

    python tools/run_pipeline.py configs/pipeline/demo.py --work-dir work_dirs/demo
    python tools/run_pipeline.py configs/pipeline/voc.py --gpus 8
    python tools/run_pipeline.py CFG --from cam2ir --to eval_seg_labels
    python tools/run_pipeline.py CFG --seeds 0 1 2      # mean ± std

Finished steps are skipped on rerun; a killed step resumes.
"""
import argparse
import os.path as osp


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', help='pipeline config (configs/pipeline/*.py)')
    p.add_argument('--work-dir', help='default: work_dirs/<config name>')
    p.add_argument('--gpus', type=int, default=1,
                   help='processes for training and sharded steps (GPUs, or '
                   'CPU processes without CUDA)')
    p.add_argument('--from', dest='start', help='first step to run')
    p.add_argument('--to', dest='stop', help='last step to run')
    p.add_argument('--seeds', type=int, nargs='+',
                   help='run the chain once per seed (work_dir/seed_<s>) and '
                   'report mean ± std')
    p.add_argument('--data-root', help='override the dataset root')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import mmseg_sipe  # noqa: F401
    from mmseg_sipe.pipeline import PipelineRunner, summarize
    from mmseg_sipe.utils.config import load_config

    cfg = load_config(args.config)
    if args.data_root:
        cfg.data_root = args.data_root
    work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    runs, run_dirs = {}, {}
    seeds = args.seeds or [None]
    for seed in seeds:
        wd = work_dir if seed is None else osp.join(work_dir, f'seed_{seed}')
        print(f'[pipeline] work dir: {osp.abspath(wd)}'
              + ('' if seed is None else f' (seed {seed})'))
        runner = PipelineRunner(cfg, wd, gpus=args.gpus, seed=seed)
        key = seed if seed is not None else cfg.get('seed', 0)
        runs[key] = runner.run(args.start, args.stop)
        run_dirs[key] = wd
    md = summarize(runs, work_dir, run_dirs=run_dirs)
    print(md)
    print(f'[pipeline] summary: {osp.abspath(osp.join(work_dir, "summary.md"))}'
          f' (and summary.json); outputs under {osp.abspath(work_dir)}')


if __name__ == '__main__':
    from mmseg_sipe.utils.cli import run_cli
    run_cli(main)
