"""mmseg-sipe: SIPE (CVPR 2022) weakly supervised semantic segmentation as an
mmsegmentation 1.x plugin."""
import os
import os.path as osp
import shutil
import sys
import warnings

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

PTH = 'mmseg_sipe_scopes.pth'
PTH_LINE = 'import mmseg_sipe_scopes; mmseg_sipe_scopes.install()\n'

HERE = osp.dirname(osp.abspath(__file__))


def get_version():
    scope = {}
    with open(osp.join(HERE, 'mmseg_sipe', 'version.py')) as f:
        exec(compile(f.read(), 'version.py', 'exec'), scope)
    return scope['__version__']


def parse_requirements(fname):
    """Requirement lines of ``requirements/<fname>`` (no pins beyond ranges;
    the tested pins are in requirements/constraints.txt)."""
    reqs = []
    with open(osp.join(HERE, fname)) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if line and not line.startswith('-'):
                reqs.append(line)
    return reqs


def add_mim_extension():
    """Ship configs/, tools/ and model-index.yml inside the package as
    ``mmseg_sipe/.mim`` (what mim and ``mmseg_sipe::`` config scopes read).

    Editable installs link them, other installs copy them.
    """
    if 'develop' in sys.argv or any('editable' in a for a in sys.argv):
        mode = 'symlink'
    elif 'sdist' in sys.argv or 'bdist_wheel' in sys.argv or \
            'install' in sys.argv:
        mode = 'copy'
    else:
        return
    filenames = ['tools', 'configs', 'model-index.yml']
    mim_path = osp.join(HERE, 'mmseg_sipe', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for filename in filenames:
        src = osp.join(HERE, filename)
        if not osp.exists(src):
            continue
        tar = osp.join(mim_path, filename)
        if osp.isfile(tar) or osp.islink(tar):
            os.remove(tar)
        elif osp.isdir(tar):
            shutil.rmtree(tar)
        if mode == 'symlink':
            try:
                os.symlink(osp.relpath(src, mim_path), tar)
                continue
            except OSError:
                warnings.warn(f'Failed to symlink {src}; copying instead')
        if osp.isfile(src):
            shutil.copyfile(src, tar)
        else:
            shutil.copytree(src, tar)


class BuildPyWithPth(build_py):
    """Also put ``mmseg_sipe_scopes.pth`` at the top of the wheel, next to
    ``mmseg_sipe_scopes.py``: the config-scope aliases for the OneDL fork are
    then active at interpreter start-up (see that module)."""

    def run(self):
        super().run()
        path = osp.join(self.build_lib, PTH)
        with open(path, 'w') as f:
            f.write(PTH_LINE)

    def get_outputs(self, include_bytecode=1):
        return super().get_outputs(include_bytecode) + [
            osp.join(self.build_lib, PTH)]


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmseg-sipe',
        version=get_version(),
        description='SIPE weakly supervised semantic segmentation for '
        'mmsegmentation 1.x',
        long_description=open(osp.join(HERE, 'README.md')).read()
        if osp.exists(osp.join(HERE, 'README.md')) else '',
        long_description_content_type='text/markdown',
        keywords='computer vision, weakly supervised semantic segmentation',
        packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs',
                                        'benchmarks')),
        py_modules=['mmseg_sipe_scopes'],
        cmdclass={'build_py': BuildPyWithPth},
        include_package_data=True,
        package_data={'mmseg_sipe': ['.mim/**/*', '.mim/*']},
        python_requires='>=3.8',
        license='MIT',
        classifiers=[
            'License :: OSI Approved :: MIT License',
            'Operating System :: OS Independent',
            'Programming Language :: Python :: 3',
            'Programming Language :: Python :: 3.11',
        ],
        install_requires=parse_requirements('requirements/runtime.txt'),
        extras_require={
            # the OpenMMLab packages: the maintained fork (default) or the
            # official stack; the import-time version gate accepts either
            'onedl': parse_requirements('requirements/onedl.txt'),
            'openmmlab': parse_requirements('requirements/openmmlab.txt'),
            'tests': parse_requirements('requirements/tests.txt'),
            'mmpretrain': parse_requirements('requirements/mmpretrain.txt'),
            'all': parse_requirements('requirements/onedl.txt') +
            parse_requirements('requirements/tests.txt') +
            parse_requirements('requirements/mmpretrain.txt'),
        },
        entry_points={
            'console_scripts': [
                f'sipe-{name.replace("_", "-")}=mmseg_sipe.cli:sipe_{name}'
                for name in ('train', 'test', 'make_cam', 'eval_cam',
                             'cam2ir', 'eval_seg_labels', 'make_seg_labels',
                             'visualize_pseudo_labels', 'run_pipeline',
                             'make_demo_dataset', 'diagnose', 'class_stats',
                             'voc_aug', 'coco_wsss', 'check_dataset',
                             'make_cls_labels')
            ]
        },
        zip_safe=False)
