"""Serving requests carry exactly what the exported signatures take."""

import json

import numpy as np
import tensorflow as tf

import tfp_invconv as ti
from export import client, saved_model
from tfp_invconv.model import FlowModel


def test_requests_feed_the_exported_signature(tmp_path):
  model = FlowModel(ti.CInCFlow((8, 8, 1), levels=2, depth=1, hidden_width=8),
                    num_levels=17)
  images = np.random.default_rng(0).integers(0, 17, (3, 8, 8, 1), np.uint8)
  model.initialize(images)
  saved_model.export(model, str(tmp_path / 'sm'))
  signature = tf.saved_model.load(str(tmp_path / 'sm')).signatures[
      'bits_per_dim']
  expected = model.bits_per_dim(images, noise='center').numpy()

  request = client.grpc_request(images, model='flow')
  assert request.model_spec.signature_name == 'bits_per_dim'
  sent = tf.make_ndarray(request.inputs['images'])
  got = signature(images=tf.constant(sent))['bits_per_dim']
  np.testing.assert_allclose(got, expected, rtol=1e-5)

  body = json.loads(json.dumps(client.rest_body(images)))
  sent = np.array(body['inputs']['images'], np.uint8)
  got = signature(images=tf.constant(sent))['bits_per_dim']
  np.testing.assert_allclose(got, expected, rtol=1e-5)
