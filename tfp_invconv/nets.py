"""Keras conditioner networks for couplings and learned priors."""

import keras


def glow_conditioner(in_channels, out_channels, hidden_width, dtype='float32',
                     name='conditioner'):
  """Glow's coupling network, its last conv zero-initialised.

  conv3x3 -> width, ReLU, conv1x1 width -> width, ReLU, conv3x3 -> out, so
  a coupling that uses it starts as the identity.
  """
  net = keras.Sequential([
      keras.layers.Conv2D(hidden_width, 3, padding='same', activation='relu',
                          dtype=dtype),
      keras.layers.Conv2D(hidden_width, 1, activation='relu', dtype=dtype),
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
                    name='conditioner'):
  """Two ReLU layers and a zero-initialised output layer, for vectors."""
  net = keras.Sequential([
      keras.layers.Dense(hidden_width, activation='relu', dtype=dtype),
      keras.layers.Dense(hidden_width, activation='relu', dtype=dtype),
      keras.layers.Dense(out_features, kernel_initializer='zeros',
                         dtype=dtype),
  ], name=name)
  net.build((None, in_features))
  return net
