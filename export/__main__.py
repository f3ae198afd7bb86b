"""python -m export --checkpoint RUN_DIR --out DIR   |   python -m export verify DIR

Exports the best weights of a training run (`python -m training train --out
RUN_DIR`) as a SavedModel, then verifies it: in a fresh process that imports
only tensorflow (every signature against the Python model) and with
`saved_model_cli run`.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from training import quiet



# What a SavedModel folder may hold; --overwrite replaces nothing else.
SAVED_MODEL_ENTRIES = {'saved_model.pb', 'variables', 'assets',
                       'assets.extra', 'fingerprint.pb'}


def check_output_folder(out, overwrite):
  """Refuses an --out that holds anything but a SavedModel, and a SavedModel
  unless `overwrite`; returns an error message or None."""
  if os.path.exists(out) and not os.path.isdir(out):
    return f'--out {out} is a file, not a folder'
  entries = set(os.listdir(out)) if os.path.isdir(out) else set()
  if not entries:
    return None
  if 'saved_model.pb' not in entries or entries - SAVED_MODEL_ENTRIES:
    return (f'--out {out} is not empty and is not a SavedModel (it holds '
            f'{", ".join(sorted(entries)[:4])}); choose a new folder')
  if not overwrite:
    return (f'--out {out} already holds a SavedModel; pass --overwrite to '
            'replace it')
  return None


def _export(args):
  from export import saved_model, verify
  from training import artifacts, data

  problem = check_output_folder(args.out, args.overwrite)
  if problem:
    sys.exit(problem)
  model, config = artifacts.load_model(args.checkpoint,
                                       mixed_precision=args.mixed_precision)
  test = data.load(config['dataset'], 'test', args.data_dir)
  images = next(iter(test.images.batch(8))).numpy()
  # Written beside --out and moved in whole, so a failed export leaves the
  # previous SavedModel as it was.
  parent = os.path.dirname(os.path.abspath(args.out))
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(prefix='.export-', dir=parent)
  try:
    module = saved_model.export(model, staging)
    verify.write_reference(module, staging, images)
    if os.path.isdir(args.out):
      shutil.rmtree(args.out)  # checked above: a SavedModel and nothing else
    os.replace(staging, args.out)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  print(f'SavedModel: {args.out} (conditioners in '
        f'{"bfloat16" if model.mixed_precision else "float32"})')
  if not args.no_verify:
    _verify(args.out)


def _warn_about(results):
  """Repeats on stderr every check that passed with a warning."""
  from export import verify
  for name, result in results.items():
    if result.startswith(verify.WARNING):
      print(f'{name}: {result}', file=sys.stderr)


def _verify(directory):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  fresh = subprocess.run([sys.executable, '-m', 'export.verify', directory],
                         env=env, capture_output=True, text=True)
  if fresh.returncode:
    sys.exit(f'verification failed:\n{fresh.stdout}\n{fresh.stderr}')
  print(f'fresh process (tensorflow only): {fresh.stdout.strip()}')
  _warn_about(json.loads(fresh.stdout.strip().splitlines()[-1]))
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


def main(argv=None):
  argv = sys.argv[1:] if argv is None else argv
  if argv[:1] == ['verify']:
    verify = argparse.ArgumentParser(
        prog='python -m export verify',
        description='Checks a SavedModel written by `python -m export`: '
                    'every signature in a fresh TensorFlow-only process, '
                    'then `saved_model_cli run`.')
    verify.add_argument('directory', help='the SavedModel folder')
    quiet.import_tensorflow()
    return _verify(verify.parse_args(argv[1:]).directory)
  parser = argparse.ArgumentParser(
      prog='python -m export',
      description='Exports a training run as a SavedModel and verifies it.',
      epilog='python -m export verify DIR checks an exported SavedModel '
             '(see python -m export verify --help).')
  parser.add_argument('--checkpoint', required=True,
                      help='output folder of a training run')
  parser.add_argument('--out', required=True,
                      help='SavedModel folder (new or empty, or a SavedModel '
                           'with --overwrite)')
  parser.add_argument('--data-dir', default=None,
                      help='tensorflow-datasets folder of the run\'s dataset')
  parser.add_argument('--overwrite', action='store_true',
                      help='replace the SavedModel already in --out (a folder '
                           'holding anything else is never touched)')
  parser.add_argument('--mixed-precision', action='store_true',
                      help='export with bfloat16 conditioners (default: '
                           'float32, in which decoding is exact to '
                           'round-off, whatever precision the run trained '
                           'in)')
  parser.add_argument('--no-verify', action='store_true',
                      help='skip the fresh-process and saved_model_cli checks')
  args = parser.parse_args(argv)
  quiet.import_tensorflow()
  from training import data
  try:
    _export(args)
  except (FileNotFoundError, data.DataError) as error:
    sys.exit(f'{parser.prog}: error: {error}')


if __name__ == '__main__':
  main()
