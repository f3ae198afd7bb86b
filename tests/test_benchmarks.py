"""The quality benchmark's bookkeeping: matched widths, verdicts, resume."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from benchmarks import quality


def _summary(**groups):
  """{('mnist', model): (mean, sd, runs)} from model=[bits/dim per seed]."""
  results = [dict(dataset='mnist', model=model.replace('_', '-'), test_bpd=v)
             for model, values in groups.items() for v in values]
  return quality.summarize(results)


def test_equal_claim_holds_within_seed_noise():
  summary = _summary(cinc_affine=[1.50, 1.52, 1.51],
                     emerging_affine=[1.51, 1.53, 1.50])
  text = quality.verdict(summary, 'mnist', 'cinc-affine', 'emerging-affine',
                         'equal')
  assert text.endswith('holds')
  worse = _summary(cinc_affine=[1.70, 1.71, 1.70],
                   emerging_affine=[1.51, 1.53, 1.50])
  assert quality.verdict(worse, 'mnist', 'cinc-affine', 'emerging-affine',
                         'equal').endswith('does not hold: cinc-affine is worse')


def test_better_claim_needs_a_difference_beyond_noise():
  clear = _summary(cinc_quad=[1.40, 1.41, 1.40],
                   cinc_affine=[1.50, 1.51, 1.50])
  assert quality.verdict(clear, 'mnist', 'cinc-quad', 'cinc-affine',
                         'better').endswith('holds')
  noisy = _summary(cinc_quad=[1.40, 1.50, 1.45],
                   cinc_affine=[1.42, 1.52, 1.47])
  assert 'within seed noise' in quality.verdict(
      noisy, 'mnist', 'cinc-quad', 'cinc-affine', 'better')
  reversed_ = _summary(cinc_quad=[1.60, 1.61, 1.60],
                       cinc_affine=[1.50, 1.51, 1.50])
  assert 'reversed' in quality.verdict(reversed_, 'mnist', 'cinc-quad',
                                       'cinc-affine', 'better')


def test_one_seed_gives_a_direction_only():
  summary = _summary(cinc_quad=[1.4], cinc_affine=[1.5])
  text = quality.verdict(summary, 'mnist', 'cinc-quad', 'cinc-affine',
                         'better')
  assert 'one seed: in the claimed direction' in text
  assert quality.verdict(summary, 'mnist', 'conf', 'cinc-affine',
                         'better') is None


def test_matched_width_is_the_closest_parameter_count():
  shape, levels = (8, 8, 1), 2
  _, args = quality.parse_options(['--depth', '1'])
  target = quality.count_params(args, shape, 'glow-affine', levels, 16)
  width = quality.matched_knob(args, shape, 'cinc-quad', levels, target)
  gap = lambda w: abs(quality.count_params(args, shape, 'cinc-quad', levels,
                                           w) - target)
  assert gap(width) <= min(gap(width - 1), gap(width + 1))
  assert width < 16  # three conditioners share the budget of one


@pytest.mark.slow
def test_quality_benchmark_runs_resumes_and_reports(tmp_path):
  rng = np.random.default_rng(0)
  data = tmp_path / 'data'
  data.mkdir()
  np.savez(data / 'mnist.npz',
           x_train=rng.integers(0, 256, (32, 8, 8), 'uint8'),
           x_test=rng.integers(0, 256, (16, 8, 8), 'uint8'))
  out = tmp_path / 'quality.md'
  argv = ['--data', str(data), '--datasets', 'mnist',
          '--models', 'cinc-affine', 'cinc-quad',
          '--steps', '2', '--eval-every', '1', '--curve-images', '8',
          '--width', '8', '--depth', '1', '--batch', '8', '--jobs', '1',
          '--runs', str(tmp_path / 'runs'), '--out', str(out)]
  quality.main(argv)
  runs = sorted(r for r in os.listdir(tmp_path / 'runs') if r.endswith('json'))
  assert len(runs) == 3 * 2  # three seeds of two models
  assert os.listdir(tmp_path / 'runs' / 'partial') == []
  with open(tmp_path / 'runs' / 'mnist_cinc-quad_seed1.json') as f:
    run = json.load(f)
  assert run['curve_steps'] == [1, 2] and len(run['curve_bpd']) == 2
  assert np.isfinite(run['test_bpd']) and run['steps'] == 2
  report = out.read_text()
  assert 'Quad-coupling beats affine coupling' in report
  from training import provenance
  assert (f'Machine: {provenance.machine(1)}; code '
          f'{provenance.code_version()}; 1 worker process(es)') in report
  assert f' --out {out} ' in report  # the printed command writes this file
  assert (tmp_path / 'quality.png').stat().st_size > 0

  stamps = {r: os.path.getmtime(tmp_path / 'runs' / r) for r in runs}
  quality.main(argv)  # everything is saved: nothing retrains
  assert stamps == {r: os.path.getmtime(tmp_path / 'runs' / r) for r in runs}

  # New settings make every saved run stale (run_all trains exactly the
  # runs that are not done, as the two calls above show).
  _, same = quality.parse_options(argv)
  assert all(quality.is_done(same, r) for r in quality.plan(same))
  for changed in (['--steps', '4'], ['--lr', '2e-3'], ['--width', '9']):
    _, args = quality.parse_options(argv + changed)
    assert not any(quality.is_done(args, r) for r in quality.plan(args))


def test_a_run_resumes_from_its_partial_checkpoint(tmp_path, monkeypatch):
  from training import data as data_lib
  rng = np.random.default_rng(0)
  (tmp_path / 'data').mkdir()
  np.savez(tmp_path / 'data' / 'mnist.npz',
           x_train=rng.integers(0, 256, (32, 8, 8), 'uint8'),
           x_test=rng.integers(0, 256, (16, 8, 8), 'uint8'))
  _, args = quality.parse_options([
      '--data', str(tmp_path / 'data'), '--eval-every', '2',
      '--curve-images', '8', '--depth', '1', '--batch', '8', '--threads', '0',
      '--runs', str(tmp_path / 'runs')])
  run = dict(dataset='mnist', model='cinc-affine', seed=0, width=8,
             params=0, levels=2, steps=4)

  def interrupted(*_):
    raise KeyboardInterrupt
  monkeypatch.setattr(data_lib, 'mean_bits_per_dim', interrupted)
  with pytest.raises(KeyboardInterrupt):
    quality.train_one(args, run)
  monkeypatch.undo()
  result = quality.train_one(args, run)
  assert result['resumed_at'] == 4
  assert [s['from_step'] for s in result['segments']] == [0, 4]
  assert result['curve_steps'] == [2, 4] and len(result['train_bpd']) == 2
  assert np.isfinite(result['test_bpd'])


PARENT = """
import concurrent.futures, multiprocessing, os, time
from benchmarks import quality
if __name__ == '__main__':
  pool = concurrent.futures.ProcessPoolExecutor(
      1, mp_context=multiprocessing.get_context('spawn'),
      initializer=quality._exit_with, initargs=(os.getpid(),))
  print(pool.submit(os.getpid).result(), flush=True)
  pool.submit(time.sleep, 600)  # the worker is busy when its parent dies
  time.sleep(600)
"""


def test_workers_end_when_the_benchmark_is_killed(tmp_path):
  script = tmp_path / 'parent.py'
  script.write_text(PARENT)
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  parent = subprocess.Popen(
      [sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
      cwd=root, env=dict(os.environ, PYTHONPATH=root))
  worker = int(parent.stdout.readline())
  parent.kill()
  parent.wait()
  deadline = time.time() + 20
  while time.time() < deadline and _alive(worker):
    time.sleep(0.2)
  assert not _alive(worker)


def _alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  with open(f'/proc/{pid}/stat') as f:  # a zombie has exited
    return f.read().split(')')[-1].split()[0] != 'Z'


def test_clipping_is_a_setting_only_when_on():
  parse = lambda *extra: quality.parse_options(
      ['--data', 'unused', *extra])[1]
  assert 'clip_norm' not in quality.settings(parse())
  assert quality.settings(parse('--clip-norm', '1'))['clip_norm'] == 1.


@pytest.mark.slow
def test_vae_benchmark_trains_resumes_and_reports(tmp_path):
  from benchmarks import vae
  rng = np.random.default_rng(0)
  (tmp_path / 'data').mkdir()
  np.savez(tmp_path / 'data' / 'mnist.npz',
           x_train=rng.integers(0, 256, (64, 28, 28), 'uint8'),
           x_test=rng.integers(0, 256, (20, 28, 28), 'uint8'))
  out = tmp_path / 'vae.md'
  argv = ['--data', str(tmp_path / 'data'), '--steps', '4', '--eval-every',
          '2', '--batch', '8', '--hidden', '16', '--latents', '4',
          '--context', '3', '--flows', '2', '--conf-layers', '2',
          '--conf-width', '8', '--iaf-width', '8', '--elbo-samples', '2',
          '--iw-samples', '20', '--iw-chunk', '10', '--iw-images', '20',
          '--curve-images', '10', '--threads', '0',
          '--runs', str(tmp_path / 'runs'), '--out', str(out)]
  vae.main(argv)
  results = sorted(os.listdir(tmp_path / 'runs'))
  assert [r for r in results if r.endswith('.json')] == sorted(
      f'{p}_seed{s}.json' for p in vae.POSTERIORS for s in (0, 1))
  lu_path = tmp_path / 'runs' / 'conf_lu_seed0.json'
  with open(lu_path) as f:
    run = json.load(f)
  assert run['curve']['steps'] == [2, 4] and run['flow_parameters'] > 0
  assert np.isfinite(run['test_nll']) and run['iw_images'] == 20
  usage = run['usage']
  assert usage['distortion'] > 0 and usage['flow_shift'] > 0
  assert np.isfinite(usage['rate']) and np.isfinite(usage['flow_log_det'])
  assert 0 <= usage['scales_near_bound'] <= 1  # CONF's own measure
  assert usage['mean_abs_log_w'] > 0 and usage['mean_abs_log_s'] > 0
  assert 0 < usage['live_units'] <= 1
  report = out.read_text()
  assert '| conf |' in report and '| conf_lu | 2 |' in report
  stamps = {r: os.path.getmtime(tmp_path / 'runs' / r) for r in results
            if r.endswith('.json') and r != lu_path.name}
  del run['usage']  # a run saved before the usage was recorded
  lu_path.write_text(json.dumps(run))
  vae.main(argv)  # all saved: nothing retrains; the usage is recomputed
  assert stamps == {r: os.path.getmtime(tmp_path / 'runs' / r)
                    for r in stamps}
  with open(lu_path) as f:
    recomputed = json.load(f)['usage']
  keys = sorted(usage)
  np.testing.assert_allclose([recomputed[k] for k in keys],
                             [usage[k] for k in keys], rtol=1e-5)

  vae.main(argv + ['--refit-steps', '3', '--posteriors', 'gaussian', 'conf'])
  with open(tmp_path / 'runs' / 'gaussian_seed1.json') as f:
    trained = json.load(f)
  with open(tmp_path / 'runs' / 'refit_gaussian_seed1.json') as f:
    refit = json.load(f)
  # The refit starts from the trained encoder and decoder, exactly.
  np.testing.assert_allclose(refit['test_neg_elbo_before'],
                             trained['test_neg_elbo'], rtol=1e-6)
  assert refit['test_neg_elbo'] != refit['test_neg_elbo_before']
  assert os.path.exists(tmp_path / 'runs' / 'refit_conf_seed0.json')
  assert 'Refitted on a frozen decoder' in out.read_text()


def test_importance_weighted_nll_is_minus_log_mean_weight():
  import argparse
  import tensorflow as tf
  from benchmarks import vae

  class Weights:
    """log w_s = log(s + 1) for the s-th sample of each chunk, per image."""

    def log_weights(self, x, samples, seed):
      del seed
      return tf.math.log(tf.range(1., samples + 1.))[:, None] + 0. * x[:, 0]

  args = argparse.Namespace(iw_samples=40, iw_chunk=20)
  result = vae.importance_weighted_nll(Weights(), np.zeros((3, 784),
                                                           np.float32), args, 0)
  expected = -np.log(np.mean(np.concatenate([np.arange(1, 21)] * 2)))
  np.testing.assert_allclose(result['test_nll'], expected, rtol=1e-6)
  assert result['test_nll_se'] == 0. and result['iw_images'] == 3


@pytest.mark.parametrize('activation', ['relu', 'elu'])
def test_live_units_finds_a_dead_conditioner_unit(activation):
  import tensorflow as tf
  import tfp_invconv as ti
  from benchmarks import vae
  from tfp_invconv import diagnostics
  flow = ti.SymmetricConvVectorFlow(6, depth=1, hidden_width=8,
                                    context_features=3, activation=activation)
  x = np.random.default_rng(0).normal(size=(200, 6)).astype(np.float32)
  context = np.random.default_rng(1).normal(size=(200, 3)).astype(np.float32)
  from tfp_invconv.bijectors import base
  conf, = [b for b in base.walk_bijectors(flow) if hasattr(b, 'conditioners')]
  last_hidden = conf.conditioners[0].layers[-2]
  last_hidden.bias.assign(tf.tensor_scatter_nd_update(
      last_hidden.bias, [[0]], [-100.]))  # unit 0 never fires
  with diagnostics.recording_couplings(flow) as records:
    flow.forward(x, context=context)
  assert [r['inputs'].shape for r in records] == [(200, 3 + 3)]
  assert vae._live_units(flow, records) == 7 / 8


def test_sampling_overflow_finds_where_samples_leave_the_test_range():
  from benchmarks import sampling_overflow
  import tfp_invconv as ti
  from tfp_invconv.model import FlowModel
  # The sigmoid scales of the earlier models, which the benchmark studies.
  flow = ti.CInCFlow((8, 8, 1), levels=2, depth=2, hidden_width=8,
                     conv='emerging', coupling='affine', scale='sigmoid')
  model = FlowModel(flow, num_levels=17, seed=0)
  images = np.random.default_rng(0).integers(0, 17, (16, 8, 8, 1), 'uint8')
  model.initialize(images)
  largest, smallest = sampling_overflow.test_range(model, images, 8)
  assert 0 < largest < np.inf and 0 < smallest < 1
  bad, _, _, exits = sampling_overflow.sample_overflow(model, 1., 8, 0,
                                                       largest)
  assert bad == 0 and not exits
  # A scale of sigmoid(-200) in the first coupling to run makes its inverse
  # overflow; the next conditioner is then the first to see such an input.
  from tfp_invconv.bijectors import base
  first, = [b for b in base.walk_bijectors(flow) if b.name == 'coupling_l2s4']
  head_bias = first.conditioners[0].weights[-1]
  raw_half = np.arange(head_bias.shape[0]) >= head_bias.shape[0] // 2
  head_bias.assign(np.where(raw_half, -200., 0.).astype(np.float32))
  bad, _, _, exits = sampling_overflow.sample_overflow(model, 1., 8, 0,
                                                       largest)
  assert bad == 8 and exits == {'coupling_l2s3': 8}, exits


def test_long_run_options_apply_from_the_step_their_plan_names():
  import argparse
  from benchmarks import long_runs
  args = argparse.Namespace(data='DATA', steps=50_000, threads=1,
                            checkpoint_every=5, runs='RUNS')

  def command(dataset, step):
    line = long_runs.train_command(args, dataset, step)
    return line, int(line[line.index('--steps') + 1])

  fresh, stop = command('mnist', 0)
  assert '--clip-norm' not in fresh and '--ema' not in fresh
  assert stop == 24_500 and fresh[fresh.index('--preset') + 1] == 'mnist_conf'
  clipped, stop = command('mnist', 24_500)
  assert clipped[clipped.index('--clip-norm') + 1] == '100'
  assert '--lr-drops' not in clipped and stop == 31_507
  dropped, stop = command('mnist', 40_000)
  assert dropped[dropped.index('--lr-drops') + 1] == '31507=1e-4'
  assert '--ema' in dropped and stop == 50_000
  bounded, stop = command('cifar10_bounded', 0)
  assert '--ema' in bounded and '--clip-norm' not in bounded
  assert stop == 50_000


def test_a_long_run_invocation_continues_into_the_next_segment(
    tmp_path, monkeypatch):
  import argparse
  from benchmarks import long_runs
  run = tmp_path / 'mnist'
  started = []

  class Training:
    """Stands for the training CLI: 'trains' to its --steps and exits."""

    def __init__(self, command):
      started.append(command)
      self.stop = int(command[command.index('--steps') + 1])

    def wait(self, timeout=None):
      (run / 'checkpoints').mkdir(parents=True, exist_ok=True)
      (run / 'checkpoints' / 'checkpoint').write_text(
          f'model_checkpoint_path: "ckpt-{self.stop}"\n')
      return 0

  monkeypatch.setattr(long_runs.subprocess, 'Popen', Training)
  args = argparse.Namespace(data='DATA', steps=40_000, threads=1,
                            checkpoint_every=5, runs=str(tmp_path), hours=None)
  assert long_runs.train(args, 'mnist') == 0
  assert [c[c.index('--steps') + 1] for c in started] == [
      '24500', '31507', '40000']
  assert '--ema' in started[2] and '--ema' not in started[1]


def test_a_fresh_process_past_its_memory_cap_is_stopped():
  from benchmarks import common
  # A bare interpreter: its own peak, not that of this process at the fork.
  value, peak_gb = common.run_python('import time\ntime.sleep(1)\n'
                                     'print([1, 2])')
  assert value == [1, 2] and 0 < peak_gb < 0.2
  grow = ('import time\nblocks = []\nfor _ in range(40):\n'
          '  blocks.append(bytearray(2 ** 26)); time.sleep(0.05)\n'
          'print(1)')
  value, peak_gb = common.run_python(grow, max_gb=0.5)
  assert value is None and 0.5 < peak_gb < 2.5


def test_a_curve_with_an_infinite_test_point_is_not_projected():
  from benchmarks import long_runs
  falling = dict(step=[100, 200, 400, 800, 1600, 3200],
                 val_bpd=[3.0, 2.8, 2.6, 2.4, 2.2, 2.0])
  assert long_runs.projected_steps(falling, 1.5) > 3200
  falling['val_bpd'][-1] = float('inf')
  assert long_runs.projected_steps(falling, 1.5) is None


def test_xla_compile_time_is_the_first_calls_difference():
  from benchmarks import xla
  cells = xla._cells([(10., 1.), (14.5, 1.5)], [1.0, 2.0], 14.)
  assert cells == ['1.00', '1.50', '1.50', '10.00 / 14.50', '4.50',
                   '1.0 / 2.0']
  stopped = xla._cells([(10., 1.), None], [1.0, 15.0], 14.)
  assert stopped[2] == stopped[4] == '-' and stopped[5].endswith('(stopped)')


def test_a_long_run_report_lists_every_recorded_invocation(tmp_path):
  from benchmarks import long_runs
  from training import files
  files.write_json(str(tmp_path / 'invocations.json'), [
      dict(from_step=500, started='2026-01-01T00:00:00+00:00', command='c',
           threads=1, machine='Intel(R) Xeon(R) Processor, 2 logical cores, '
           'threads=1; Python 3.11.7, TensorFlow 2.21.0', code='abc1234',
           to_step=900, cpu_hours=0.25),
      dict(from_step=800, started='2026-01-02T00:00:00+00:00', command='c',
           threads='all', machine='AMD EPYC, 2 logical cores, threads=all; '
           'Python 3.11.7, TensorFlow 2.21.0', code='abc1235', to_step=1000,
           cpu_hours=0.5)])
  lines = long_runs._provenance(long_runs.RUNS['cifar10_bounded'],
                                str(tmp_path))
  assert lines[0] == 'Plan: from step 0: `--ema`.'
  assert lines[2].startswith('Machine: AMD EPYC, 2 logical cores, threads=all')
  assert '| 500 | 900 | 2026-01-01T00:00:00+00:00 | 1 | Intel(R) Xeon(R) ' \
         'Processor | abc1234 | 0.25 |' in lines
  assert '| 800 | 1,000 | 2026-01-02T00:00:00+00:00 | all | AMD EPYC | ' \
         'abc1235 | 0.50 |' in lines
  # The second invocation resumed from step 800: the 100 steps the first
  # trained past its last checkpoint count in the total.
  assert any(l.startswith('CPU hours of the recorded invocations: 0.75 ')
             for l in lines)
  assert any(l.startswith('Steps 0 to 500: not recorded') for l in lines)


def test_spikes_sum_the_rises_and_rank_them_against_the_final_bits(tmp_path):
  from benchmarks import spikes
  assert spikes.rises([5., 4., 4.5, 3., 3.2, 3.1]) == pytest.approx((0.7, 0.5))
  assert spikes.rises([3., 2., 1.]) == (0., 0.)
  curves = {0: [4., 3., 2.], 1: [4., 3., 3.5, 2.], 2: [4., 5., 3., 4., 2.]}
  for seed, curve in curves.items():
    (tmp_path / f'mnist_glow-affine_seed{seed}.json').write_text(json.dumps(
        dict(model='glow-affine', seed=seed, curve_bpd=curve,
             test_bpd=2. + seed)))
  out = tmp_path / 'spikes.md'
  spikes.main(['--runs', str(tmp_path), '--models', 'glow-affine', '--out',
               str(out)])
  text = out.read_text()
  assert '| glow-affine | 2 | 2.000 | 1.000 | 4.0000 |' in text
  assert 'over these 3 runs: 1.00 (two-sided p = 0.000)' in text
  with pytest.raises(FileNotFoundError, match='no saved run of conf'):
    spikes.main(['--runs', str(tmp_path), '--models', 'conf'])


def test_heavy_tails_and_layer_growth_report_a_flow_s_outlier(tmp_path,
                                                               monkeypatch):
  from benchmarks import common, heavy_tails, layer_growth
  import tfp_invconv as ti
  from tfp_invconv.model import FlowModel
  model = FlowModel(ti.CInCFlow((8, 8, 1), levels=2, depth=1, hidden_width=8),
                    num_levels=256, seed=0)
  rng = np.random.default_rng(0)
  images = rng.integers(0, 40, (6, 8, 8), np.uint8)
  images[0, :, 0] = 255  # ink where the others have none
  model.initialize(images[1:, ..., None])
  np.savez(tmp_path / 'data.npz', x_train=images, x_test=images)
  monkeypatch.setattr(common, 'load_model', lambda args: model)
  heavy = tmp_path / 'heavy.md'
  heavy_tails.main(['--threads', '0', '--run', 'RUN', '--dataset', str(tmp_path / 'data.npz'),
                    '--dfs', '5', '--drop', '1', '--out', str(heavy)])
  normal_row, t_row = [l for l in heavy.read_text().splitlines()
                       if l.startswith(('| normal', '| t, df = 5'))]
  assert normal_row.split(' | ')[4].startswith('0: ')  # the outlier is worst
  assert t_row.split(' | ')[1] != normal_row.split(' | ')[1]  # another base
  growth = tmp_path / 'growth.md'
  layer_growth.main(['--threads', '0', '--run', 'RUN', '--data', str(tmp_path / 'data.npz'),
                     '--indices', '0', '1', '--out', str(growth)])
  rows = [l for l in growth.read_text().splitlines() if l.startswith('| ')]
  bpd = model.bits_per_dim(images[:2, ..., None], noise='center')
  assert rows[1] == (f'| bits/dim | {float(bpd[0]):.4g} | '
                     f'{float(bpd[1]):.4g} |')
  layers = [r.split(' | ')[0][2:] for r in rows[3:]]
  assert layers[0] == 'squeeze1' and layers[-1] == 'reshape'


@pytest.mark.parametrize('results, rerun', [
    ('long_runs.md', ['long_runs', '--report-only', '--report', '{out}']),
    ('quality_runs_spikes.md',
     ['spikes', '--runs', 'benchmarks/results/quality_runs', '--dataset',
      'mnist', '--models', 'glow-affine', 'emerging-affine', 'cinc-affine',
      'cinc-quad', '--out', '{out}']),
])
def test_a_results_file_s_printed_command_regenerates_it(results, rerun,
                                                         tmp_path):
  """The cheap results files, rebuilt from what the repository holds."""
  import subprocess
  import sys
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  out = str(tmp_path / results)
  module, *argv = [a.replace('{out}', out) for a in rerun]
  subprocess.run([sys.executable, '-m', f'benchmarks.{module}', *argv],
                 cwd=root, check=True, capture_output=True)
  with open(os.path.join(root, 'benchmarks', 'results', results)) as f:
    committed = f.read()
  with open(out) as f:  # the same but for the --out the test gave
    assert f.read().replace(f' --out {out}', '') == committed


def test_pac_init_builds_each_run_as_saved_and_scores_its_start(tmp_path):
  from benchmarks import pac_init
  images = np.random.default_rng(0).integers(0, 256, (8, 8, 8, 1), np.uint8)
  run = dict(settings=dict(width=4, blocks=1, features=2, couplings=1),
             levels=1, components=2, curve_steps=[100], curve_bpd=[7.5])
  (tmp_path / 'mnist_realnvp_seed0.json').write_text(json.dumps(run))
  runs = pac_init.saved_runs(str(tmp_path), 'realnvp')
  assert runs == [run]
  held_out, norm = pac_init.start('realnvp', runs, images, images[:4], 4)
  assert 5. < held_out < 20. and 0. < norm < np.inf
  with pytest.raises(FileNotFoundError, match='no saved MNIST run of emerging'):
    pac_init.saved_runs(str(tmp_path), 'emerging')


def test_onednn_log_counts_primitives_by_kind_and_data_type():
  from benchmarks import mixed_precision
  log = '\n'.join([
      'onednn_verbose,v1,primitive,info,template:operation,engine,primitive',
      'onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:amx,'
      'forward_training,src:bf16::blocked:acdb::f0 wei:bf16:a:blocked,,,1.0',
      'onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:amx,'
      'forward_training,src:bf16::blocked:acdb::f0 wei:bf16:a:blocked,,,1.0',
      'onednn_verbose,v1,primitive,exec,cpu,gemm_api,,undef,src_f32::blocked'
      ':ab:f0 wei_f32::blocked:ab:f0,,,48x48:48x48,20.1',
      'a line of the program itself'])
  assert mixed_precision.count_kernels(log) == (
      'convolution bf16: 2 (brg_conv_fwd:amx); gemm_api f32: 1 ()')


def test_memory_soak_measures_growth_after_the_warm_up_only():
  from benchmarks import memory_soak
  readings = [(50, 900.), (900, 1500.), (950, 1000.), (2000, 1030.),
              (3000, 1020.)]
  base, peak, grown = memory_soak.growth(readings, warmup_steps=937)
  assert (base, peak) == (1000., 1030.)
  assert grown == pytest.approx(0.03)
  with pytest.raises(ValueError, match='before step 937'):
    memory_soak.growth(readings[:3], warmup_steps=937)


def test_vector_peers_match_parameters_and_train_alike():
  from benchmarks import peers_vectors as peers
  target = peers.count_params(peers.REFERENCE, 1, 16)
  for model in peers.MODELS[1:]:
    width = peers.matched_width(model, 1, 16)
    gap = lambda w, model=model: abs(peers.count_params(model, 1, w) - target)
    assert gap(width) <= min(gap(width - 1), gap(width + 1))
    assert gap(width) < 0.05 * target
  for model in peers.MODELS:
    curve, finite, count = peers.digits_bits_here(model, 1, 16, 4, 32,
                                                  evaluations=2)
    assert [step for step, _ in curve] == [2, 4]
    assert finite == peers.DIGITS - peers.TRAIN_IMAGES and count > 0
    assert all(1 < bits < 12 for _, bits in curve)
