"""Plants each bug a strengthened test guards against, one at a time, runs
that test, restores the file and prints whether the test failed (it must).

  python tests/planted_bugs.py [NAME_PREFIX ...]   (in a clean checkout)

Results of the last run: tests/planted_bugs.jsonl.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLANTS = [
 ('1b padding bound: noise drawn with sd 1.5, scored as N(0, 1)', 'tfp_invconv/flows.py',
  "           tf.random.stateless_normal(shape, seed=[seed, 0], dtype=x.dtype))",
  "           1.5 * tf.random.stateless_normal(shape, seed=[seed, 0], dtype=x.dtype))",
  'tests/test_symmetric_flows.py::test_noise_padding_gives_the_analytic_bound_of_a_correlated_joint'),
 ('1c padding bound: log N(e) without its normalising constant', 'tfp_invconv/flows.py',
  "          zeros + tf.reduce_sum(standard_normal.log_prob(noise), axis=-1))",
  "          zeros + tf.reduce_sum(-0.5 * noise ** 2, axis=-1))",
  'tests/test_symmetric_flows.py::test_noise_padding_gives_the_analytic_bound_of_a_correlated_joint'),
 ('2 variational bits/dim without log q', 'tfp_invconv/model.py',
  "    return self.codec.bits_per_dim(self.distribution.log_prob(x) - log_q)",
  "    return self.codec.bits_per_dim(self.distribution.log_prob(x))",
  'tests/test_dequantization.py::test_variational_bits_per_dim_agrees_with_an_independent_estimate'),
 ('2b variational bits/dim with log q doubled', 'tfp_invconv/model.py',
  "    return self.codec.bits_per_dim(self.distribution.log_prob(x) - log_q)",
  "    return self.codec.bits_per_dim(self.distribution.log_prob(x) - 2 * log_q)",
  'tests/test_dequantization.py::test_variational_bits_per_dim_agrees_with_an_independent_estimate'),
 ('3 coupling log-det off by 1%', 'tfp_invconv/bijectors/coupling.py',
  "      log_det += log_det_i\n",
  "      log_det += 1.01 * log_det_i\n",
  'tests/test_flows.py::test_distribution_samples_push_the_base_draw_and_score_by_its_jacobian'),
 ('4 sampling ignores the context', 'tfp_invconv/bijectors/coupling.py',
  "      bijector = self.block_bijector(i, done if inverse else blocks, context)",
  "      bijector = self.block_bijector(i, done if inverse else blocks, context if inverse or context is None else tf.zeros_like(context))",
  'tests/test_conditional.py::test_distribution_takes_the_context_as_bijector_kwargs'),
 ('5 temperature divides the latent', 'tfp_invconv/latent.py',
  "    return self.decode(z * temperature)",
  "    return self.decode(z / temperature)",
  'tests/test_pretrained.py::test_samples_at_t_07_are_finite'),
 ('6 bin centres at the lower bin edge', 'tfp_invconv/pixels.py',
  "      u = 0.5\n", "      u = 0.45\n",
  'tests/test_pretrained.py::test_the_reference_batch_scores_as_recorded'),
 ('7 XLA-only gradient of ActNorm scales 0.1% off', 'tfp_invconv/bijectors/actnorm.py',
  "  def _forward_and_log_det(self, x):\n    log_scale = self.log_scale()\n",
  "  def _forward_and_log_det(self, x):\n    log_scale = self.log_scale()\n    from tensorflow.python.ops import control_flow_util\n    if control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()):\n      log_scale = log_scale + 1e-3 * (log_scale - tf.stop_gradient(log_scale))\n",
  'tests/test_xla.py::test_xla_agrees_with_plain_graphs'),
 ('8 ActNorm inverse 1e-4 off', 'tfp_invconv/bijectors/actnorm.py',
  "    x = y * tf.exp(-log_scale) - self._bias\n",
  "    x = (y * tf.exp(-log_scale) - self._bias) * (1. + 1e-4)\n",
  'tests/test_model.py::test_encode_decode_recovers_the_pixels_before_rounding tests/test_latent.py'),
 ('9 temperature ignored', 'tfp_invconv/latent.py',
  "    return self.decode(z * temperature)",
  "    return self.decode(z)",
  'tests/test_model.py::test_a_sample_decodes_the_seeded_latent_at_its_temperature'),
 ('9b seed ignored', 'tfp_invconv/latent.py',
  "                   None if seed is None else int(seed))",
  "                   0)",
  'tests/test_model.py::test_a_sample_decodes_the_seeded_latent_at_its_temperature'),
 ('10 q not trained (its u cut from the gradient)', 'tfp_invconv/pixels.py',
  "      u, log_q = self.dequantizer.sample(k / self.num_levels - 0.5)",
  "      u, log_q = self.dequantizer.sample(k / self.num_levels - 0.5)\n      u, log_q = tf.stop_gradient(u), tf.stop_gradient(log_q)",
  'tests/test_dequantization.py::test_variational_dequantization_trains_jointly_to_a_tighter_bound'),
 ('10b Gaussian-noise q (as before)', 'tfp_invconv/dequantization.py',
  "               base='logistic', dtype='float32',",
  "               base='gaussian', dtype='float32',",
  'tests/test_dequantization.py::test_variational_dequantization_trains_jointly_to_a_tighter_bound'),
 ('traced once: a retrace per batch size', 'tfp_invconv/latent.py',
  "      self.graphs[key] = tf.function(fn, reduce_retracing=True,",
  "      self.graphs[key] = tf.function(fn, reduce_retracing=False,",
  'tests/test_model.py::test_sample_encode_decode_trace_once_then_take_any_batch_size'),
 ('README example without its fit', 'README.md',
  "model.fit(tf.data.Dataset.from_tensor_slices(pixels).batch(64), epochs=2)",
  "model.fit(tf.data.Dataset.from_tensor_slices(pixels).batch(64), epochs=0)",
  'tests/test_readme.py::test_readme_example_runs'),
]
only = sys.argv[1:]
results = []
for name, path, old, new, nodes in PLANTS:
  if only and not any(name.startswith(o) for o in only):
    continue
  full = os.path.join(ROOT, path)
  text = open(full).read()
  assert text.count(old) == 1, (name, text.count(old))
  open(full, 'w').write(text.replace(old, new))
  try:
    run = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-x', '-p', 'no:cacheprovider', *nodes.split()],
                         cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
  finally:
    open(full, 'w').write(text)
  tail = [l for l in run.stdout.splitlines() if l.startswith('E ') or 'passed' in l or 'failed' in l]
  results.append(dict(plant=name, test=nodes, fails=run.returncode != 0, evidence=tail[:3] + tail[-1:]))
  print(json.dumps(results[-1]), flush=True)
