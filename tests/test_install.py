"""A built, non-editable install works from another folder: the pretrained
models ship as package data."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
  """A wheel of the project installed (without its dependencies, which this
  interpreter has) into a folder of its own."""
  wheels = tmp_path_factory.mktemp('wheels')
  site = tmp_path_factory.mktemp('site')
  subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '-q',
                  '-w', str(wheels), ROOT],
                 check=True, cwd=ROOT)
  wheel, = wheels.glob('tfp_invconv-*.whl')
  subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '-q',
                  '--target', str(site), str(wheel)], check=True)
  return site


def _run(site, cwd, *args):
  env = dict(os.environ, PYTHONPATH=str(site), TF_CPP_MIN_LOG_LEVEL='3')
  return subprocess.run([sys.executable, *args], cwd=cwd, env=env,
                        capture_output=True, text=True, check=False)


def test_installed_package_loads_pretrained_models_from_another_folder(
    installed, tmp_path):
  code = ('import training, tfp_invconv\n'
          'from training import pretrained\n'
          'model, config = pretrained.load("mnist")\n'
          'print(training.__file__, tfp_invconv.__file__)\n'
          'print(pretrained.run_folder("cifar10"))\n')
  result = _run(installed, tmp_path, '-c', code)
  assert result.returncode == 0, result.stderr[-2000:]
  paths = result.stdout.split()
  assert all(p.startswith(str(installed)) for p in paths), paths
  for name in ('mnist', 'cifar10'):
    folder = os.path.join(installed, 'training', 'models', name)
    assert not os.path.islink(os.path.join(folder, 'model.weights.h5'))


def test_installed_command_samples_a_pretrained_model(installed, tmp_path):
  result = _run(installed, tmp_path, '-m', 'training', 'sample',
                '--pretrained', 'mnist', '--num', '4', '--temperatures',
                '0.7')
  assert result.returncode == 0, result.stderr[-2000:]
  assert (tmp_path / 'runs' / 'pretrained_mnist' /
          'samples_by_temperature.png').exists()
