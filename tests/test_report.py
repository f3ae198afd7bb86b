"""benchmarks/report.py: the README's and docs' tables are the results files'."""

import os
import shutil

import pytest

from benchmarks import report


def test_every_table_matches_its_results_files():
  diffs = report.stale()
  assert not diffs, ('tables differ from benchmarks/results (run '
                     '`python -m benchmarks.report`):\n' + ''.join(diffs.values()))


def _with_cell(line, value):
  """A markdown table row with its second cell replaced by `value`."""
  cells = line.split(' | ')
  return ' | '.join(cells[:1] + [value] + cells[2:])


def test_a_hand_edited_cell_is_rewritten():
  doc = os.path.join(report.ROOT, 'docs', 'benchmarks.md')
  with open(doc) as f:
    text = f.read()
  lines = text.split('\n')
  row = lines.index('<!-- table: memory -->') + 3  # the first data row
  lines[row] = _with_cell(lines[row], '123456')
  edited = '\n'.join(lines)
  assert edited != text
  assert report.regenerate(edited, doc) == text


def test_tables_follow_the_results_files(tmp_path, monkeypatch):
  results = tmp_path / 'results'
  shutil.copytree(report.RESULTS, results,
                  ignore=shutil.ignore_patterns('*_runs', 'long_runs', '*.png',
                                                'pac_mnist_small',
                                                'mnist_bounded_step22512'))
  memory = results / 'memory.md'
  lines = memory.read_text().split('\n')
  row = next(i for i, l in enumerate(lines) if l.startswith('| 32 |'))
  lines[row] = _with_cell(lines[row], '123456')
  memory.write_text('\n'.join(lines))
  monkeypatch.setattr(report, 'RESULTS', str(results))
  doc = os.path.join(report.ROOT, 'docs', 'benchmarks.md')
  assert '| 32 | 123456 |' in report.render('memory', doc)


def test_an_unknown_table_name_is_an_error():
  text = '<!-- table: no_such_table -->\n<!-- end table -->\n'
  with pytest.raises(KeyError, match='no_such_table'):
    report.regenerate(text, os.path.join(report.ROOT, 'README.md'))


def test_check_exits_nonzero_when_a_document_is_stale(monkeypatch, capsys):
  monkeypatch.setattr(report, 'stale', lambda: {'README.md': '-old\n+new\n'})
  assert report.main(['--check']) == 1
  assert '+new' in capsys.readouterr().out
