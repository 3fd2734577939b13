"""The repository describes its own method and speaks only of the project.

* Every section reference ``§N`` / ``§N.M`` in the Python and Markdown files
  points into ``docs/method.md`` and names a section that exists there.
* No file cites a method description outside the repository.
* No text file carries a machine's absolute path into the project, or words
  about how the project is worked on instead of what it is.

Files are those git lists: tracked plus untracked, not ignored ones.
"""
import os.path as osp
import re
import subprocess

import pytest

from sipe_testing import ROOT

METHOD = 'docs/method.md'
THIS = osp.relpath(osp.abspath(__file__), ROOT).replace(osp.sep, '/')
TEXT_EXTS = ('.py', '.md', '.json', '.yaml', '.yml', '.sh', '.txt')

# a numbered heading of method.md: "## 3. Title" -> "3", "### 1.2 Title"
HEADING = re.compile(r'^#{2,6}\s+(\d+(?:\.\d+)*)\.?\s', re.M)
SECTION_REF = re.compile(r'§(\d+(?:\.\d+)*)')
# a method description kept outside the repository (spelled in pieces so
# that this file does not match itself)
OUTSIDE_SPEC = ('shared' + '/spec', 'sipe' + '-method.md')
# a machine's absolute path into the project: anything under /work/, or a
# project-looking path under /root/, /home/<user>/ or /tmp/ (plain /tmp
# examples in help texts stay allowed)
ABS_PATH = re.compile(
    r'(?<![\w.:/-])(?:/work/\S'
    r'|/(?:root|home/[\w.-]+|tmp)/\S*'
    r'(?:mmseg[-_]sipe|/main/|/shared/|work_dirs|\.venv))')
PHRASES = re.compile(r'\b(?:the issue|this session|this machine)\b', re.I)


def _repo_files(exts):
    try:
        out = subprocess.run(
            ['git', 'ls-files', '--cached', '--others', '--exclude-standard'],
            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip('not a git checkout: no file list')
    files = []
    for f in sorted(set(out.splitlines())):
        if f.startswith('.venv/') or f == THIS or not f.endswith(exts):
            continue
        if osp.isfile(osp.join(ROOT, f)):
            files.append(f)
    return files


def _read(rel):
    with open(osp.join(ROOT, rel), encoding='utf-8', errors='replace') as f:
        return f.read()


def _where(rel, text, pos):
    return f'{rel}:{text.count(chr(10), 0, pos) + 1}'


def _sections():
    return set(HEADING.findall(_read(METHOD)))


def test_method_page_has_numbered_sections():
    sections = _sections()
    top = sorted(int(s) for s in sections if '.' not in s)
    assert top and top == list(range(1, top[-1] + 1)), top
    # every subsection sits under an existing section
    for s in sections:
        assert s.rsplit('.', 1)[0] in sections or '.' not in s, s


def test_section_references_resolve():
    sections = _sections()
    bad, unanchored, n = [], [], 0
    for rel in _repo_files(('.py', '.md')):
        text = _read(rel)
        refs = list(SECTION_REF.finditer(text))
        if not refs:
            continue
        # a file that uses section numbers says where they point
        if rel != METHOD and 'method.md' not in text:
            unanchored.append(rel)
        for m in refs:
            n += 1
            if m.group(1) not in sections:
                bad.append(f'{_where(rel, text, m.start())} §{m.group(1)}')
    assert n > 0, 'no section references found'
    assert not unanchored, f'§ used without naming {METHOD}: {unanchored}'
    assert not bad, f'references to sections missing from {METHOD}: {bad}'


def test_no_method_description_outside_the_repository():
    hits = []
    for rel in _repo_files(TEXT_EXTS):
        text = _read(rel)
        hits += [f'{rel}: {s}' for s in OUTSIDE_SPEC if s in text]
    assert not hits, hits


def test_no_machine_paths_or_process_words():
    paths, words = [], []
    for rel in _repo_files(TEXT_EXTS):
        text = _read(rel)
        paths += [f'{_where(rel, text, m.start())} {m.group(0)}'
                  for m in ABS_PATH.finditer(text)]
        words += [f'{_where(rel, text, m.start())} "{m.group(0)}"'
                  for m in PHRASES.finditer(text)]
    assert not paths, f'absolute machine paths: {paths}'
    assert not words, f'say what the project is, not how it is worked on: ' \
        f'{words}'


@pytest.mark.parametrize('text, flagged', [
    ('see /work/main/docs/method.md', True),
    ('"checkpoint": "/work/main/work_dirs/demo/stage1/epoch_32.pth"', True),
    ('/home/alice/mmseg-sipe/configs', True),
    ('/tmp/x/work_dirs/demo', True),
    ('--out /tmp/cams', False),
    ('export TMPDIR=/tmp', False),
    ('https://example.org/work/page', False),
    ('work_dirs/demo/stage1/epoch_32.pth', False),
])
def test_abs_path_pattern(text, flagged):
    assert bool(ABS_PATH.search(text)) is flagged
