"""The package imports in one direction: utilities < data and models <
evaluation and pictures < pipeline steps < the whole pipeline < command
lines.  A lower layer importing a higher one (also inside a function body,
where such imports hide cycles) fails here, and nothing in the package
imports or runs a file under tools/."""
import ast
import os
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PACKAGE = osp.join(ROOT, 'mmseg_sipe')
#: top-level module or sub-package of mmseg_sipe -> layer (low to high)
LAYERS = {
    'version': 0, 'registry': 0, 'utils': 0,
    'datasets': 1, 'models': 1, 'engine': 1,
    'evaluation': 2, 'visualization': 2,
    'cam': 3, 'refine': 3, 'pseudo_labels': 3,
    'pipeline': 4,
    'cli': 5,
}


def _modules():
    for dirpath, dirnames, filenames in os.walk(PACKAGE):
        dirnames[:] = [d for d in dirnames if not d.startswith('.')
                       and d != '__pycache__']
        for name in filenames:
            if name.endswith('.py'):
                yield osp.join(dirpath, name)


def _imports(path):
    """``(line, 'mmseg_sipe.a.b')`` for every import of the package, module
    level and function bodies alike (relative imports resolved)."""
    rel = osp.relpath(path, ROOT)[:-3].split(os.sep)
    package = rel[:-1]  # the package this module lives in
    tree = ast.parse(open(path).read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split('.')[0] == 'mmseg_sipe':
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = base + (node.module.split('.') if node.module
                                 else [])
                if node.module is None:  # from . import a, b
                    for alias in node.names:
                        yield node.lineno, '.'.join(target + [alias.name])
                    continue
                yield node.lineno, '.'.join(target)
            elif node.module and node.module.split('.')[0] == 'mmseg_sipe':
                yield node.lineno, node.module


def _layer(dotted):
    parts = dotted.split('.')
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def test_every_top_level_part_has_a_layer():
    tops = {p.split(os.sep)[0].replace('.py', '')
            for p in (osp.relpath(m, PACKAGE) for m in _modules())}
    assert tops - {'__init__'} <= set(LAYERS), tops - set(LAYERS)


def test_no_lower_layer_imports_a_higher_one():
    bad = []
    for path in _modules():
        rel = osp.relpath(path, ROOT)
        own = _layer(rel[:-3].replace(os.sep, '.'))
        if own is None:
            continue
        for line, target in _imports(path):
            layer = _layer(target)
            if layer is not None and layer > own:
                bad.append(f'{rel}:{line} imports {target}')
    assert not bad, 'imports against the layering:\n' + '\n'.join(bad)


@pytest.mark.parametrize('needle', ["'tools/", '"tools/', 'tools.'])
def test_package_never_runs_tools(needle):
    hits = []
    for path in _modules():
        for n, line in enumerate(open(path), 1):
            code = line.split('#')[0]
            if needle in code and ('run(' in code or 'import' in code or
                                   'spec_from_file_location' in code or
                                   'subprocess' in code):
                hits.append(f'{osp.relpath(path, ROOT)}:{n}')
    assert not hits, hits
