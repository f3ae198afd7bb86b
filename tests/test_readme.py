"""The README's usage example runs as written."""

import os
import re

import pytest

README = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'README.md')


@pytest.mark.slow
def test_readme_example_runs(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)  # the example saves a model file
  text = open(README).read()
  blocks = re.findall(r'```python\n(.*?)```', text, re.S)
  namespace = {}
  exec(compile(blocks[0], 'README.md', 'exec'), namespace)
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
