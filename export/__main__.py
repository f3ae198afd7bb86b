"""python -m export --checkpoint RUN_DIR --out DIR   |   python -m export verify DIR

Exports the best weights of a training run (`python -m training train --out
RUN_DIR`) as a SavedModel, then verifies it: in a fresh process that imports
only tensorflow (every signature against the Python model) and with
`saved_model_cli run`.
"""

import argparse
import os
import shutil
import subprocess
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


def _export(args):
  import numpy as np
  from export import saved_model, verify
  from training import artifacts, data

  model, config = artifacts.load_model(args.checkpoint)
  if os.path.exists(args.out):
    shutil.rmtree(args.out)
  module = saved_model.export(model, args.out)
  test = data.load(config['dataset'], 'test', args.data_dir)
  images = next(iter(test.images.batch(8))).numpy()
  extra = os.path.join(args.out, 'assets.extra')
  os.makedirs(extra, exist_ok=True)
  encoded = module.encode(images)['z'].numpy()
  np.savez(os.path.join(extra, verify.REFERENCE), images=images,
           log_prob=module.log_prob(images)['log_prob'].numpy(),
           bits_per_dim=module.bits_per_dim(images)['bits_per_dim'].numpy(),
           z=encoded,
           samples=module.sample(np.int32(4), np.float32(0.7),
                                 np.int32(3))['images'].numpy())
  print(f'SavedModel: {args.out}')
  if not args.no_verify:
    _verify(args.out)


def _verify(directory):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  fresh = subprocess.run([sys.executable, '-m', 'export.verify', directory],
                         env=env, capture_output=True, text=True)
  if fresh.returncode:
    sys.exit(f'verification failed:\n{fresh.stdout}\n{fresh.stderr}')
  print(f'fresh process (tensorflow only): {fresh.stdout.strip()}')
  cli = shutil.which('saved_model_cli') or os.path.join(
      os.path.dirname(sys.executable), 'saved_model_cli')
  reference = os.path.join(directory, 'assets.extra', 'reference.npz')
  run = subprocess.run(
      [cli, 'run', '--dir', directory, '--tag_set', 'serve',
       '--signature_def', 'bits_per_dim', '--inputs',
       f'images={reference}[images]'],
      env=env, capture_output=True, text=True)
  if run.returncode:
    sys.exit(f'saved_model_cli run failed:\n{run.stderr[-3000:]}')
  print('saved_model_cli run bits_per_dim: ok')
  print(run.stdout.strip().splitlines()[-1][:200])


def main(argv=None):
  argv = sys.argv[1:] if argv is None else argv
  if argv[:1] == ['verify']:
    if len(argv) != 2:
      sys.exit('usage: python -m export verify DIR')
    return _verify(argv[1])
  parser = argparse.ArgumentParser(prog='python -m export')
  parser.add_argument('--checkpoint', required=True,
                      help='output folder of a training run')
  parser.add_argument('--out', required=True, help='SavedModel folder')
  parser.add_argument('--data-dir', default=None)
  parser.add_argument('--no-verify', action='store_true')
  _export(parser.parse_args(argv))


if __name__ == '__main__':
  main()
