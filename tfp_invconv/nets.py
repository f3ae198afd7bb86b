"""Keras conditioner networks for couplings and learned priors."""

import keras


def glow_conditioner(in_channels, out_channels, hidden_width, dtype='float32',
                     name='conditioner', activation='relu'):
  """Glow's coupling network, its last conv zero-initialised.

  conv3x3 -> width, ReLU, conv1x1 width -> width, ReLU, conv3x3 -> out, so
  a coupling that uses it starts as the identity. `activation` replaces
  the ReLUs (any Keras activation name).
  """
  net = keras.Sequential([
      keras.layers.Conv2D(hidden_width, 3, padding='same',
                          activation=activation, dtype=dtype),
      keras.layers.Conv2D(hidden_width, 1, activation=activation,
                          dtype=dtype),
      keras.layers.Conv2D(out_channels, 3, padding='same',
                          kernel_initializer='zeros', dtype=dtype),
  ], name=name)
  net.build((None, None, None, in_channels))
  return net


def zero_conv(in_channels, out_channels, dtype='float32', name='zero_conv'):
  """A single zero-initialised conv3x3 (Glow's split prior network)."""
  net = keras.Sequential([
      keras.layers.Conv2D(out_channels, 3, padding='same',
                          kernel_initializer='zeros', dtype=dtype),
  ], name=name)
  net.build((None, None, None, in_channels))
  return net


def mlp_conditioner(in_features, out_features, hidden_width, dtype='float32',
                    name='conditioner', activation='relu'):
  """Two hidden layers (ReLU unless `activation` says otherwise) and a
  zero-initialised output layer, for vectors."""
  net = keras.Sequential([
      keras.layers.Dense(hidden_width, activation=activation, dtype=dtype),
      keras.layers.Dense(hidden_width, activation=activation, dtype=dtype),
      keras.layers.Dense(out_features, kernel_initializer='zeros',
                         dtype=dtype),
  ], name=name)
  net.build((None, in_features))
  return net


def gated_resnet(in_channels, out_channels, hidden_width, blocks=2,
                 dtype='float32', name='conditioner'):
  """Gated residual blocks with layer norm (Flow++ / PAC flows), the last
  conv zero-initialised.

  conv3x3 -> width, then `blocks` x [h += gate(conv3x3(ELU(LayerNorm(h))))]
  with gate(a, b) = a * sigmoid(b), then LayerNorm, ELU, conv3x3 -> out.
  """
  conv = lambda width, **kwargs: keras.layers.Conv2D(
      width, 3, padding='same', dtype=dtype, **kwargs)
  inputs = keras.Input((None, None, in_channels), dtype=dtype)
  h = conv(hidden_width)(inputs)
  for _ in range(blocks):
    a = keras.layers.LayerNormalization(dtype=dtype)(h)
    a, gate = keras.ops.split(conv(2 * hidden_width)(keras.ops.elu(a)), 2,
                              axis=-1)
    h = h + a * keras.ops.sigmoid(gate)
  h = keras.ops.elu(keras.layers.LayerNormalization(dtype=dtype)(h))
  outputs = conv(out_channels, kernel_initializer='zeros')(h)
  return keras.Model(inputs, outputs, name=name)
