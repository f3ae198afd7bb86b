"""Mixed precision against float32: train-step and sampling time.

At the CIFAR-10 shape (32 x 32 x 3, L = 3, width 512) and each depth D of
`--arch`, one CInC flow with affine couplings trains and samples with its
conditioners in float32 and in bfloat16 (`FlowModel(mixed_precision=True)`,
`tfp_invconv.precision`), from the same initial weights. Each cell runs in a
fresh process: the median of `--repeats` calls after the first (one Adamax
train step on a batch of `--train-batch`, or decoding `--batch` samples).

Whether oneDNN ran bfloat16 kernels is read from its own log: one mixed
train step at the smallest depth runs again with ONEDNN_VERBOSE=1, and the
primitives it executed are counted by data type. With `--data`, the
pretrained MNIST model's round trip decode(encode(x)) is measured in both
modes on the test images. The machine line gives
the CPU's bfloat16 flags and the load average when the benchmark started
(above 0.5: another process was running on the machine).

  python -m benchmarks.mixed_precision --threads 1
"""

import collections
import os
import re

from benchmarks import common
from benchmarks import sampling
from training import provenance

ARCHS = {'small_d8': 8, 'cifar10': 32}
MODES = ('float32', 'mixed')


def _model(arch, mixed):
  import keras
  from tfp_invconv.model import FlowModel
  keras.utils.set_random_seed(0)
  model = FlowModel(sampling._flow(arch, 'cinc', 'affine'), num_levels=256,
                    seed=0, mixed_precision=mixed)
  model.compile(optimizer=keras.optimizers.Adamax(1e-3))
  return model


def measure_here(arch, kind, mixed, batch, train_batch, repeats):
  """In this process: [first call s, median s, bfloat16 conditioners?]."""
  import numpy as np
  import tensorflow as tf
  model = _model(arch, mixed)
  if kind == 'sample':
    z = tf.random.stateless_normal([batch, model.flow.latent_size], [0, 1])
    call = lambda: model.decode(tf.identity(z)).numpy()
  else:
    pixels = np.random.default_rng(0).integers(
        0, 256, (train_batch,) + sampling.IMAGE)
    iterator = iter(tf.data.Dataset.from_tensors(pixels).repeat())
    model.make_train_function()
    call = lambda: model.train_function(iterator)['bpd'].numpy()
  first, median = common.first_and_median(call, repeats)
  return [first, median, model.mixed_precision]


def round_trip_here(path, count, mixed, batch=100):
  """On the pretrained MNIST model, `count` test images of `path` at their
  bin centres: [max |decode(encode(x)) - x|, images off by more than 1e-5,
  pixels that round to another level, mean bits/dim]."""
  import numpy as np
  from tfp_invconv import precision
  from training import pretrained
  model, _ = pretrained.load('mnist')
  if mixed:
    precision.set_conditioner_policy(model.flow, precision.MIXED)
  with np.load(path) as arrays:
    images = arrays['x_test'][:count, ..., None]
  errors, changed, bpd = [], 0, []
  for start in range(0, count, batch):
    pixels = images[start:start + batch]
    x = model.dequantize(pixels, noise='center')
    back = model.decode(model.encode(x))
    errors.append(np.max(np.abs(back - x), axis=(1, 2, 3)))
    changed += int(np.sum(model.to_pixels(back)[0].numpy() != pixels))
    bpd.append(model.bits_per_dim(pixels, noise='center').numpy())
  errors = np.concatenate(errors)
  return [float(errors.max()), int(np.sum(errors > 1e-5)), changed,
          float(np.mean(np.concatenate(bpd)))]


def round_trips(args):
  """The note on `round_trip_here` in both modes, or '' without --data."""
  if not args.data:
    return ''
  code = ('import json; from benchmarks import common, mixed_precision; '
          f'common.set_threads({args.threads}); '
          'print(json.dumps([mixed_precision.round_trip_here('
          f'{args.data!r}, {args.round_trip_images}, mixed) '
          'for mixed in (False, True)]))')
  (plain, mixed), _ = common.run_python(code)
  described = [f'{name}: max error {r[0]:.1e}, {r[1]} images off by more '
               f'than 1e-5, {r[2]} pixels rounding to another level, '
               f'{r[3]:.4f} bits/dim'
               for name, r in (('float32', plain), ('mixed', mixed))]
  return (f' Round trip decode(encode(x)) of the pretrained MNIST model on '
          f'the first {args.round_trip_images} test images at their bin '
          f'centres: {"; ".join(described)}.')


def _run(arch, kind, mixed, args):
  return common.call_in_process(
      args.threads, 'mixed_precision', 'measure_here', arch, kind, mixed,
      args.batch, args.train_batch, args.repeats, max_gb=args.max_gb)


def onednn_kernels(arch, args):
  """oneDNN's primitives executed in one mixed train step, by kind and
  data type (`count_kernels`)."""
  code = ('import json; from benchmarks import common, mixed_precision; '
          f'common.set_threads({args.threads}); '
          f'mixed_precision.measure_here({arch!r}, "train", True, 1, '
          f'{args.train_batch}, 1); print(json.dumps(None))')
  import subprocess
  import sys
  log = subprocess.run([sys.executable, '-c', code], capture_output=True,
                       text=True, check=True,
                       env=dict(os.environ, ONEDNN_VERBOSE='1')).stdout
  return count_kernels(log)


def count_kernels(log):
  """'convolution bf16: n (implementations), ...': oneDNN primitive
  executions by kind and source data type, from an ONEDNN_VERBOSE log."""
  counts = collections.Counter()
  implementations = collections.defaultdict(set)
  for line in log.splitlines():
    fields = line.split(',')
    if not line.startswith('onednn_verbose') or 'exec' not in fields[:4]:
      continue
    kind, implementation = fields[5], fields[6]
    found = re.search(r'src[:_](\w+?):', line)
    key = f'{kind} {found.group(1) if found else "?"}'
    counts[key] += 1
    implementations[key].add(implementation)
  return '; '.join(f'{key}: {n} ({", ".join(sorted(implementations[key]))})'
                   for key, n in counts.most_common())


def main(argv=None):
  parser = common.make_parser('mixed_precision', __doc__.split('\n')[0],
                              batch=100, repeats=3)
  parser.add_argument('--arch', nargs='+', default=list(ARCHS),
                      choices=list(ARCHS))
  parser.add_argument('--train-batch', type=int, default=64)
  parser.add_argument('--max-gb', type=float, default=16.)
  parser.add_argument('--data', default=None,
                      help='mnist.npz: also measure the round trip of the '
                           'pretrained MNIST model on its test images')
  parser.add_argument('--round-trip-images', type=int, default=1000)
  load = os.getloadavg()[0]
  args, command = common.parse(parser, argv)
  from tfp_invconv import precision
  native, where = precision.native_bfloat16()
  out = args.out or (f'benchmarks/results/mixed_precision_threads'
                     f'{args.threads or "all"}.md')
  kernels = onednn_kernels(min(args.arch, key=ARCHS.get), args)
  table = common.ResultsTable(
      out, 'Mixed precision (bfloat16 conditioners) against float32',
      command,
      f'{provenance.machine(args.threads)}; bfloat16: '
      f'{where if native else "not native (" + where + ")"}; load average '
      f'{load:.2f} at the start',
      ['arch', 'D', 'mode', f'train step {args.train_batch} s',
       'mixed / float32', 'first call s', f'sample {args.batch} s',
       'mixed / float32', 'first call s', 'peak GB train / sample'],
      notes=[f'Median of {args.repeats} calls after the first, each cell in '
             'a fresh process; the CIFAR-10 shape, L = 3, width 512, CInC '
             'convolutions and affine couplings. oneDNN primitives executed '
             'in two mixed train steps at the smallest depth (the first '
             'traces, the second reuses the graph), by kind and source data '
             f'type: {kernels}.{round_trips(args)}'])
  for arch in args.arch:
    base = {}
    for mode in MODES:
      row = [arch, ARCHS[arch], mode]
      peaks = []
      for kind in ('train', 'sample'):
        (first, median, mixed), peak = _run(arch, kind, mode == 'mixed',
                                            args)
        if mode == 'mixed' and not mixed:
          row[2] = 'mixed (fell back to float32)'
        base.setdefault(kind, median)
        row += [f'{median:.2f}', f'{median / base[kind]:.2f}',
                f'{first:.1f}']
        peaks.append(f'{peak:.1f}')
      table.add(row + [' / '.join(peaks)])
  print(f'wrote {out}')


if __name__ == '__main__':
  main()
