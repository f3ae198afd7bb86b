"""The README's usage example runs as written."""

import os
import re

import pytest

README = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'README.md')


@pytest.mark.slow
def test_readme_example_runs(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)  # the example saves a model file
  text = open(README).read()
  example = re.search(r'```python\n(.*?)```', text, re.S).group(1)
  exec(compile(example, 'README.md', 'exec'), {})
