"""benchmarks/runs.py: saved results, resumed curves and clocks."""

import json
import os

from benchmarks import runs


def _run(tmp_path, steps=4, **resume):
  return runs.Run(str(tmp_path / 'mnist_glow_seed0.json'),
                  settings=dict(lr=1e-3), steps=steps, **resume)


def test_a_result_counts_only_with_the_values_it_was_made_with(tmp_path):
  run = _run(tmp_path)
  assert run.saved() is None
  written = run.save(dict(test_bpd=1.5))
  assert written == dict(test_bpd=1.5, settings=dict(lr=1e-3), steps=4)
  assert run.saved() == written
  assert _run(tmp_path, steps=8).saved() is None
  other = runs.Run(run.result_path, settings=dict(lr=2e-3), steps=4)
  assert other.saved() is None


def test_a_curve_resumes_cut_to_its_checkpoint_and_keeps_its_clock(tmp_path):
  run = _run(tmp_path)
  assert run.partial == str(tmp_path / 'partial' / 'mnist_glow_seed0')
  curve = run.curve(0, threads=1)
  for step in (2, 4):
    curve.append(step, bpd=5. - step)
    curve.save()  # the step-4 curve is saved, its checkpoint is not
  assert run.has_curve()
  with open(os.path.join(run.partial, 'curve.json')) as f:
    clock = json.load(f)['wall_s']
  assert clock > 0

  resumed = run.curve(2, threads=1)
  assert not resumed.stale
  assert resumed.steps == [2] and resumed.series == dict(bpd=[3.])
  assert [s['from_step'] for s in resumed.segments] == [0, 2]
  assert resumed.totals()['wall_s'] >= clock  # earlier invocations count
  resumed.append(4, bpd=0.5)
  resumed.save()
  with open(os.path.join(run.partial, 'curve.json')) as f:
    saved = json.load(f)
  assert saved['steps'] == [2, 4] and saved['series'] == dict(bpd=[3., 0.5])
  assert saved['expected'] == dict(settings=dict(lr=1e-3), steps=4)


def test_a_checkpoint_of_other_training_settings_is_stale(tmp_path):
  curve = _run(tmp_path).curve(0, threads=1)
  curve.append(2, bpd=1.)
  curve.save()
  assert _run(tmp_path, steps=8).curve(2, threads=1).stale
  assert _run(tmp_path).curve(2, threads=1).steps == [2]
  # No evaluation at or before the checkpoint's step: nothing to resume.
  assert _run(tmp_path).curve(1, threads=1).stale
  # A run resumable under its training settings alone trains on to more
  # steps from the same checkpoint.
  extended = _run(tmp_path, steps=8, resume_with=dict(settings=dict(lr=1e-3)))
  fresh = extended.curve(0, threads=1)
  fresh.append(2, bpd=1.)
  fresh.save()
  longer = runs.Run(extended.result_path, settings=dict(lr=1e-3), steps=16,
                    resume_with=dict(settings=dict(lr=1e-3)))
  assert longer.curve(2, threads=1).steps == [2]
  assert not longer.curve(2, threads=1).stale
