"""`--help` explains every option and shows its default; the README names
every preset."""

import argparse
import os

import pytest

from training import __main__ as cli
from training import presets

README = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'README.md')


def _subcommands():
  parser = cli.parser()
  subparsers, = [a for a in parser._actions
                 if isinstance(a, argparse._SubParsersAction)]
  return subparsers.choices


@pytest.mark.parametrize('command', sorted(_subcommands()))
def test_every_option_has_help_and_shows_its_default(command):
  subparser = _subcommands()[command]
  text = subparser.format_help()
  for action in subparser._actions:
    assert action.help, (command, action.option_strings)
    if action.default not in (None, False, [], argparse.SUPPRESS):
      shown = action.default
      if isinstance(shown, list):
        shown = ' '.join(str(v) for v in shown)
      assert f'(default: {shown})' in ' '.join(text.split()), (
          command, action.option_strings)


def test_options_the_preset_sets_name_the_demo_value():
  text = ' '.join(_subcommands()['train'].format_help().split())
  assert "images per step (default: the preset's; demo: 64)" in text
  assert '(default: demo)' in text  # the preset itself


def test_the_readme_names_every_preset():
  text = open(README).read()
  missing = [name for name in presets.PRESETS if f'`{name}`' not in text]
  assert not missing


def test_a_pretrained_model_writes_into_a_folder_of_its_own(tmp_path,
                                                            monkeypatch):
  monkeypatch.chdir(tmp_path)
  args = argparse.Namespace(output=None, run=None, pretrained='mnist')
  assert cli._output(args, 'grid.png') == os.path.join(
      'runs', 'pretrained_mnist', 'grid.png')
  assert (tmp_path / 'runs' / 'pretrained_mnist').is_dir()
  run = argparse.Namespace(output=None, run='my_run', pretrained=None)
  assert cli._output(run, 'grid.png') == os.path.join('my_run', 'grid.png')
