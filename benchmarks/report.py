"""Writes the README's and docs' result tables from benchmarks/results/.

Every table between `<!-- table: NAME -->` and `<!-- end table -->` in
README.md and docs/*.md is generated here from the results files (and the
pretrained models' evaluation.json), never edited by hand:

  python -m benchmarks.report          # rewrite the tables
  python -m benchmarks.report --check  # exit 1 and show the diff if stale

Each generated table ends with the results files it came from, their
machine and thread count.
"""

import argparse
import difflib
import glob
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
MARKED = re.compile(r'(<!-- table: (\S+) -->\n)(.*?)(<!-- end table -->)',
                    re.DOTALL)
TABLES = {}


def table(name):
  """Registers fn() -> (header, rows, sources) as the table NAME."""
  def register(fn):
    TABLES[name] = fn
    return fn
  return register


class Results:
  """One results file: its tables (rows as dicts), sections and machine."""

  def __init__(self, name, section=None):
    self.name = name
    self.section = section
    self.path = os.path.join(RESULTS, name)
    with open(self.path) as f:
      self.text = f.read()
    self.tables = []  # (section, rows)
    section, header = '', None
    for line in self.text.splitlines():
      if line.startswith('## '):
        section = line[3:].split(':')[0].strip()
      if not line.startswith('|'):
        header = None
        continue
      cells = [c.strip() for c in line.strip().strip('|').split('|')]
      if header is None:
        header = _unique(cells)
        self.tables.append((section, []))
      elif not set(''.join(cells)) <= set('-'):
        self.tables[-1][1].append(dict(zip(header, cells)))

  def rows(self, index=0):
    """Rows of the index-th table (of this file's section, if it has one)."""
    found = [rows for s, rows in self.tables if self.section in (None, s)]
    if not found:
      raise ValueError(f'{self.name}: no table in section {self.section!r}')
    return found[index]

  def machine(self):
    """'Intel(R) Xeon(R) Processor, threads=1' from the Machine: line."""
    text = self.text
    if self.section is not None:
      text = text.split(f'## {self.section}:', 1)[1]
    line = re.search(r'^Machine: (.*)$', text, re.MULTILINE).group(1)
    parts = line.split(';')[0].split(', ')
    if line.startswith('not recorded'):
      described = 'machine not recorded by its runs'
    else:
      described = (f'{parts[0]}, {parts[2]}' if len(parts) == 3
                   else line.split(' (')[0])
    stale = re.search(r'^Stale\b', text, re.MULTILINE)
    return described + (', stale: the file says why' if stale else '')


def _unique(header):
  """Repeated column names get a count: 'XLA', 'XLA (2)'."""
  seen = {}
  named = []
  for name in header:
    seen[name] = seen.get(name, 0) + 1
    named.append(name if seen[name] == 1 else f'{name} ({seen[name]})')
  return named


def number(cell):
  return float(cell.replace(',', '').rstrip('x%'))


def ratio(cell):
  """'6.14 / 4.21x' -> '4.21x'."""
  return cell.split('/')[-1].strip()


def mean_sd(row, column='test bits/dim (mean)', digits=2):
  """'2.95 ± 0.24' from a mean column and the 'sd' beside it."""
  mean = f'{number(row[column]):.{digits}f}'
  return mean if row['sd'] == '-' else f'{mean} ± {number(row["sd"]):.{digits}f}'


def columns(results, names, index=0):
  """The listed columns of one results table, as they are."""
  rows = results.rows(index)
  header = [re.sub(r' \(\d\)$', '', n) for n in names]
  return header, [[row[n] for n in names] for row in rows], [results]


def by_model(results, datasets):
  """One row per model, bits/dim (mean ± sd) per dataset, and parameters."""
  rows = results.rows()
  models = list(dict.fromkeys(r['model'] for r in rows))
  cell = {(r['dataset'], r['model']): r for r in rows}
  header = ['model'] + [
      f'{label} test bits/dim ({cell_seeds(rows, d)})' for d, label in datasets
  ] + ['parameters (' + ' / '.join(label for _, label in datasets) + ')']
  body = []
  for model in models:
    present = [cell.get((d, model)) for d, _ in datasets]
    body.append([model] + [mean_sd(r) if r else '-' for r in present] +
                [' / '.join(r['parameters'] if r else '-' for r in present)])
  return header, body, [results]


def cell_seeds(rows, dataset):
  seeds = sorted({r['seeds'] for r in rows if r['dataset'] == dataset})
  steps = sorted({r['steps'] for r in rows if r['dataset'] == dataset})
  return f'{"/".join(steps)} steps, seeds: {"/".join(seeds)}'


def versus_glow(pattern, value_column, extra=()):
  """Per (results file, arch, coupling): CInC / Glow and emerging / Glow of
  `value_column`, and `extra` columns (label, fn(rows by conv)); each row
  names its file and machine."""
  header = ['arch', 'coupling', f'Glow {value_column}', 'CInC / Glow',
            'emerging / Glow'] + [label for label, _ in extra] + [
                'machine', 'results']
  body = []
  for path in sorted(glob.glob(os.path.join(RESULTS, pattern))):
    results = Results(os.path.basename(path))
    groups = {}
    for row in results.rows():
      groups.setdefault((row['arch'], row['coupling']), {})[row['conv']] = row
    for (arch, coupling), convs in groups.items():
      glow = convs['1x1'][value_column]
      body.append(
          [arch, coupling, glow] +
          [versus(convs, c, value_column) for c in ('cinc', 'emerging')] +
          [fn(convs) for _, fn in extra] + [results.machine(), results])
  return header, body, []


def versus(convs, conv, column):
  return f'{number(convs[conv][column]) / number(convs["1x1"][column]):.2f}x'


@table('inverse')
def _inverse():
  results = Results('inverse.md')
  header = ['layer', 'H x W x C', 'forward ms',
            'inverse / forward: row-conv (default on CPU)',
            'rows (default on GPU/TPU)', 'wavefront', 'block-Jacobi']
  body = [[r['layer'], r['H x W x C'], r['forward ms'],
           ratio(r['row-conv ms / fwd']), ratio(r['rows ms / fwd']),
           ratio(r['wavefront ms / fwd']),
           ratio(r['block-Jacobi ms / fwd'])] for r in results.rows()]
  return header, body, [results]


@table('peers')
def _peers():
  return columns(Results('peers.md'),
                 ['D', 'flow', 'parameters', 'train step 64 s',
                  'vs tfb.Glow (3)', 'sample 100 s', 'vs tfb.Glow',
                  'log_prob 100 s', 'vs tfb.Glow (2)'])


@table('peers_vectors')
def _peers_vectors():
  return columns(Results('peers_vectors.md'),
                 ['D', 'flow', 'parameters', 'train step 256 s',
                  'vs RealNVP (3)', 'sample 1000 s', 'vs RealNVP',
                  'log_prob 1000 s', 'vs RealNVP (2)'])


@table('pac_conv')
def _pac_conv():
  return columns(Results('pac_conv.md'),
                 ['H x W x C', 'conv2d forward ms', 'PAC / conv2d',
                  'conv2d fwd+bwd ms', 'PAC / conv2d (fwd+bwd)'])


@table('symmetric')
def _symmetric():
  return columns(Results('symmetric.md'),
                 ['DCT', 'H x W x C', 'forward ms', 'inverse / forward'])


@table('sampling')
def _sampling():
  return versus_glow(
      'sampling_*_threads*.md', 'sample 100 s',
      [('log_prob: CInC / Glow',
        lambda convs: versus(convs, 'cinc', 'log_prob 100 s')),
       ('CInC conv inverses\' share',
        lambda convs: convs['cinc']['conv inverses'])])


@table('throughput')
def _throughput():
  return versus_glow('throughput_*.md', 's / step')


@table('quality')
def _quality():
  return by_model(Results('quality.md'),
                  [('mnist', 'MNIST'), ('cifar10', 'CIFAR-10 subset')])


@table('quality_bounded')
def _quality_bounded():
  return by_model(Results('quality_bounded.md'), [('mnist', 'MNIST')])


@table('memory')
def _memory():
  return columns(
      Results('memory.md'),
      ['D', 'resident peak MiB (plain)', 'resident peak MiB (recompute)',
       'resident peak MiB (inverse)', 'resident: plain / recompute',
       'resident: plain / inverse', 'allocator: plain / recompute',
       'allocator: plain / inverse', 'recompute / plain time',
       'inverse / plain time'])


@table('mixed_precision')
def _mixed_precision():
  return columns(
      Results('mixed_precision_threads1.md'),
      ['D', 'mode', 'train step 64 s', 'mixed / float32', 'sample 100 s',
       'mixed / float32 (2)', 'peak GB train / sample'])


@table('quality_mixed')
def _quality_mixed():
  return by_model(Results('quality_mixed.md'), [('mnist', 'MNIST')])


@table('xla_small')
def _xla_small():
  return columns(
      Results('xla_small_d4_threads1.md'),
      ['conv', 'sample 100 s (plain)', 'XLA', 'XLA / plain',
       'XLA compile s', 'train step 64 s (plain)', 'XLA (2)',
       'XLA / plain (2)', 'XLA compile s (2)'])


@table('xla_cifar10')
def _xla_cifar10():
  return columns(
      Results('xla_cifar10_threads1.md'),
      ['conv', 'sample 100 s (plain)', 'XLA', 'XLA / plain',
       'peak GB plain / XLA', 'train step 64 s (plain)', 'XLA (2)',
       'XLA / plain (2)', 'peak GB plain / XLA (2)'])


@table('pac')
def _pac():
  return by_model(Results('pac.md'),
                  [('mnist', 'MNIST'), ('cifar10', 'CIFAR-10 subset')])


@table('pac_inversion')
def _pac_inversion():
  return columns(
      Results('pac_inversion.md'),
      ['solver', 'steps per solve (mean)', 'max',
       'max reconstruction error (64 held-out images)', 'log_prob s (batch 64)',
       'sample s (batch 64)', 'sample / log_prob'])


@table('scale_bound')
def _scale_bound():
  results = Results('scale_bound.md')
  header = ['coupling and prior scale', 'held-out bits/dim (seeds)',
            'non-finite samples, T = 0.7', 'T = 1.0']
  body = [[r['coupling and prior scale'],
           f'{mean_sd(r, "held-out bits/dim (mean)")} ({r["seeds"]})',
           r['non-finite samples at T = 0.7'],
           r['non-finite samples at T = 1.0']] for r in results.rows()]
  return header, body, [results]


@table('vae')
def _vae():
  results = Results('vae.md')
  rates = {r['posterior']: r for r in results.rows(1)}
  header = ['posterior', 'flow parameters', 'seeds', 'test -ELBO (nats)',
            'test NLL', 'rate / distortion (nats)']
  body = [[r['posterior'], r['flow parameters'], r['seeds'],
           f'{r["test -ELBO"]} ± {r["sd"]}',
           f'{r["test NLL"]} ± {r["sd (2)"]}',
           f'{rates[r["posterior"]]["rate (nats)"]} / '
           f'{rates[r["posterior"]]["distortion (nats)"]}']
          for r in results.rows(0)]
  return header, body, [results]


def long_run(section, rows_shown=10):
  """Every k-th epoch of one long run, its best and its last."""
  results = Results('long_runs.md', section)
  rows = results.rows(-1)  # the epochs (after the invocations, if recorded)
  finite = [r for r in rows if r['test bits/dim'] not in ('inf', 'nan')]
  best = min(finite, key=lambda r: number(r['test bits/dim']))
  every = -(-len(rows) // rows_shown)
  shown = [r for i, r in enumerate(rows)
           if i % every == 0 or r is best or i == len(rows) - 1]
  header = ['steps', 'CPU hours', 'train bits/dim', 'test bits/dim']
  body = [[f'{int(r["step"]):,}', r['CPU hours'], r['train bits/dim'],
           r['test bits/dim'] + (' (best)' if r is best else '')]
          for r in shown]
  return header, body, [results]


for _name in ('mnist', 'cifar10', 'mnist_bounded', 'cifar10_bounded'):
  table(f'long_run_{_name}')(lambda name=_name: long_run(name))


@table('pretrained')
def _pretrained():
  header = ['model', 'test images', 'mean bits/dim', 'median', 'non-finite',
            'step', 'CPU hours']
  body, sources = [], []
  for name in ('mnist', 'cifar10'):
    folder = os.path.join(ROOT, 'training', 'models', name)
    with open(os.path.join(folder, 'evaluation.json')) as f:
      scores = json.load(f)
    run = os.path.basename(os.path.dirname(
        os.path.realpath(os.path.join(folder, 'evaluation.json'))))
    runs = Results('long_runs.md', run)
    sources.append(runs)
    hours = {int(r['step']): r['CPU hours']
             for r in runs.rows(-1)}.get(scores['step'], '-')
    sources.append(os.path.join(folder, 'evaluation.json'))
    body.append([f'`{name}` ({run} run)', f'{scores["images"]:,}',
                 f'{scores["mean"]:.4f}', f'{scores["median"]:.4f}',
                 str(scores['non_finite']), f'{scores["step"]:,}', hours])
  return header, body, sources


def render(name, doc):
  """The markdown of table NAME as it appears in the file `doc`."""
  header, body, sources = TABLES[name]()
  here = os.path.dirname(doc)

  def link(source):
    if isinstance(source, str):
      return f'[{os.path.relpath(source, ROOT)}]({os.path.relpath(source, here)})'
    return f'[{source.name}]({os.path.relpath(source.path, here)})'

  lines = ['| ' + ' | '.join(header) + ' |',
           '|' + '---|' * len(header)]
  for row in body:
    cells = [link(c) if isinstance(c, Results) else c for c in row]
    lines.append('| ' + ' | '.join(cells) + ' |')
  described = [link(source) if isinstance(source, str) else
               f'{link(source)} ('
               f'{source.section + ": " if source.section else ""}'
               f'{source.machine()})' for source in sources]
  if described:
    lines += ['', 'From ' + ', '.join(dict.fromkeys(described)) + '.']
  return '\n'.join(lines) + '\n'


def documents():
  return [os.path.join(ROOT, 'README.md')] + sorted(
      glob.glob(os.path.join(ROOT, 'docs', '*.md')))


def regenerate(text, doc):
  """`text` with every marked table rewritten; unknown names raise."""
  def replace(match):
    name = match.group(2)
    if name not in TABLES:
      raise KeyError(f'{doc}: no table named {name!r} in benchmarks/report.py')
    return match.group(1) + render(name, doc) + match.group(4)
  return MARKED.sub(replace, text)


def stale(docs=None):
  """{doc: unified diff} of every document whose tables are not current."""
  diffs, used = {}, set()
  for doc in docs or documents():
    with open(doc) as f:
      text = f.read()
    used.update(m.group(2) for m in MARKED.finditer(text))
    new = regenerate(text, doc)
    if new != text:
      diffs[doc] = ''.join(difflib.unified_diff(
          text.splitlines(True), new.splitlines(True), doc, doc + ' (generated)'))
  missing = set(TABLES) - used
  if docs is None and missing:
    raise KeyError(f'tables no document shows: {sorted(missing)}')
  return diffs


def main(argv=None):
  parser = argparse.ArgumentParser(
      prog='benchmarks.report', description=__doc__.split('\n')[0])
  parser.add_argument('--check', action='store_true',
                      help='exit 1 if a table differs from its results')
  args = parser.parse_args(argv)
  diffs = stale()
  if args.check:
    sys.stdout.write(''.join(diffs.values()))
    return 1 if diffs else 0
  for doc in diffs:
    with open(doc) as f:
      text = f.read()
    with open(doc, 'w') as f:
      f.write(regenerate(text, doc))
    print(f'rewrote {os.path.relpath(doc, ROOT)}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
