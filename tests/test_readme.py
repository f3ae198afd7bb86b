"""The README's and docs' examples run as written, and their links lead to
files that exist."""

import glob
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, 'README.md')
PAGES = [README] + sorted(glob.glob(os.path.join(ROOT, 'docs', '*.md')))


def _text():
  return '\n'.join(open(page).read() for page in PAGES)


def test_the_readme_is_an_index_of_at_most_250_lines():
  assert len(open(README).read().splitlines()) <= 250


def test_the_readme_names_no_path_outside_a_clone():
  """Data and runs are named by dataset or by a folder the commands
  create, never by where one machine keeps them."""
  assert not re.findall(r'\.\./\S+', open(README).read())


@pytest.mark.parametrize('page', PAGES, ids=os.path.basename)
def test_every_relative_link_leads_to_a_file(page):
  text = re.sub(r'```.*?```', '', open(page).read(), flags=re.S)  # code
  targets = re.findall(r'\]\((?!https?:)([^)#\s]+)(?:#[^)]*)?\)', text)
  missing = [t for t in targets if not os.path.exists(
      os.path.join(os.path.dirname(page), t))]
  assert not missing


@pytest.mark.slow
def test_readme_example_runs(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)  # the example saves a model file
  text = _text()
  blocks = re.findall(r'```python\n(.*?)```', text, re.S)
  namespace = {}
  exec(compile(blocks[0], 'README.md', 'exec'), namespace)
  np = namespace['np']
  dist, x, model = namespace['dist'], namespace['x'], namespace['model']
  assert x.shape == (4, 8, 8, 1) and np.isfinite(dist.log_prob(x)).all()
  # The model loaded back from the .keras file scores digits below the
  # uniform code length log2(17) = 4.087: it is the trained one.
  pixels = namespace['pixels'][:8]
  trained_bpd = model.bits_per_dim(pixels, noise='center').numpy()
  assert np.isfinite(trained_bpd).all() and trained_bpd.mean() < 4.087
  assert namespace['images'].shape == (2, 8, 8, 1)
  assert namespace['finite'].numpy().all()
  pac, = [b for b in blocks if 'PACFlow' in b]
  exec(compile(pac, 'README.md', 'exec'), namespace)  # uses the imports above
  assert namespace['model'].flow.name.startswith('pac_')
  open_coupling, = [b for b in blocks if 'conditioner_outputs' in b]
  exec(compile(open_coupling, 'README.md', 'exec'), namespace)
  x = namespace['tf'].random.normal([2, 4, 4, 4])
  for coupling in (namespace['additive'], namespace['spline']):
    assert coupling.forward(x).shape == (2, 4, 4, 4)
  posterior, = [b for b in blocks if 'context_features' in b]
  namespace = {}
  exec(compile(posterior, 'README.md', 'exec'), namespace)
  assert namespace['z'].shape == (32, 8)
  assert namespace['log_q'].shape == (32,)
