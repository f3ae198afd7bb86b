"""Resumable benchmark runs, shared by every benchmark that trains.

A run is named by its result file and by what it must match to count: the
settings it was made with, its step count, its matched knob. When it ends,
its result is written there (atomically) with those values; a rerun with the
same values reads it instead of training again, and any change makes it
stale. While it trains it keeps a checkpoint and a learning curve in its
partial folder; the curve is written just before each checkpoint, so on
resume it is cut back to the checkpoint's step. Wall and CPU time add up
over every invocation that trained the run, and each invocation records the
step it started from, its machine and its code.

  run = runs.Run('runs/mnist_glow_seed0.json', settings=..., steps=3000)
  if run.saved() is None:
    step = <restore the checkpoint in run.partial, 0 without one>
    curve = run.curve(step, threads=1)
    ... curve.append(step, bpd=value); curve.save(); <checkpoint> ...
    run.save(dict(result, **curve.totals()))
"""

import os
import shutil
import time

from training import files, provenance


class Run:
  """One resumable run: its result file, its partial folder (the result's
  path without `.json` under `partial/` beside it) and the values its saved
  result must match. A checkpoint resumes only under `resume_with` (by
  default the same values); a benchmark whose evaluation settings do not
  change the training passes the training ones, so a finished checkpoint is
  evaluated again, or trained on to more steps, rather than retrained."""

  def __init__(self, result_path, resume_with=None, **expected):
    self.result_path = result_path
    folder, name = os.path.split(result_path)
    self.partial = os.path.join(folder, 'partial',
                                os.path.splitext(name)[0])
    self.expected = expected
    self.resume_with = expected if resume_with is None else resume_with

  def saved(self):
    """The saved result if it matches every expected value, else None."""
    result = files.read_json(self.result_path)
    if result is None or any(result.get(k) != v
                             for k, v in self.expected.items()):
      return None
    return result

  def save(self, result):
    """Writes `result` with the expected values, so a rerun finds it, and
    returns what it wrote."""
    result = dict(result, **self.expected)
    files.write_json(self.result_path, result)
    return result

  def remove_partial(self):
    shutil.rmtree(self.partial, ignore_errors=True)

  def has_curve(self):
    return os.path.exists(os.path.join(self.partial, 'curve.json'))

  def curve(self, step, threads):
    """The run's curve, resumed at checkpoint `step` (fresh at step 0)."""
    return Curve(os.path.join(self.partial, 'curve.json'), self.resume_with,
                 step, threads)


class Curve:
  """A learning curve saved beside its run's checkpoint.

  `steps` lists the evaluated steps; each series (`curve.series['bpd']`)
  has one value per step. A saved curve of other settings, or one with no
  evaluation at or before the checkpoint, resumes as empty (`stale`).
  """

  def __init__(self, path, expected, step, threads):
    self.path, self.expected = path, expected
    saved = files.read_json(path) if step else None
    self.stale = bool(step) and (saved is None
                                 or saved.get('expected') != expected)
    if self.stale or not saved:
      saved = dict(steps=[], series={}, wall_s=0., cpu_s=0., segments=[])
    keep = sum(s <= step for s in saved['steps'])
    self.steps = saved['steps'][:keep]
    self.series = {k: v[:keep] for k, v in saved['series'].items()}
    self.stale = self.stale or (bool(step) and not self.steps)
    self.segments = saved['segments'] + [dict(
        from_step=step, machine=provenance.machine(threads),
        code=provenance.code_version())]
    self._saved_wall, self._saved_cpu = saved['wall_s'], saved['cpu_s']
    self._wall, self._cpu = time.perf_counter(), time.process_time()

  def append(self, step, **values):
    self.steps.append(step)
    for key, value in values.items():
      self.series.setdefault(key, []).append(value)

  def totals(self):
    """Wall and CPU seconds over every invocation, up to now."""
    return dict(wall_s=self._saved_wall + time.perf_counter() - self._wall,
                cpu_s=self._saved_cpu + time.process_time() - self._cpu)

  def save(self):
    files.write_json(self.path, dict(
        expected=self.expected, steps=self.steps, series=self.series,
        segments=self.segments, **self.totals()))
