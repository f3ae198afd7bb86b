"""DCT matrices and their application over the spatial axes of a tensor.

Karami et al. (2019) diagonalise symmetric convolutions with the DCT. As
matrices, the transforms are exact, differentiable and (for the sizes of
flow levels) faster on CPU than `tf.signal.dct` with transposes.

* type 1: the paper's DCT-I, X_k = sum_n a_n x_n cos(pi k n / (N - 1)),
  a_0 = a_{N-1} = 1, a_n = 2 otherwise (tf.signal.dct type 1); not orthogonal.
* type 2: the orthonormal DCT-II (inverse = transpose).
"""

import functools

import numpy as np
import tensorflow as tf

TYPES = (1, 2)


@functools.lru_cache(maxsize=None)
def _matrices(size, dct_type):
  n = np.arange(size)
  if dct_type == 2:
    matrix = np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / (2 * size))
    matrix *= np.where(n == 0, np.sqrt(1. / size), np.sqrt(2. / size))[:, None]
    return matrix, matrix.T
  if size < 2:
    raise ValueError('DCT-I needs at least 2 points per axis.')
  weights = np.where((n == 0) | (n == size - 1), 1., 2.)
  matrix = weights[None, :] * np.cos(np.pi * n[:, None] * n[None, :]
                                     / (size - 1))
  return matrix, np.linalg.inv(matrix)


def matrices(size, dct_type, dtype):
  """(DCT, inverse DCT) as [size, size] constants."""
  if dct_type not in TYPES:
    raise ValueError(f'dct_type must be one of {TYPES}, got {dct_type!r}.')
  forward, inverse = _matrices(int(size), dct_type)
  return tf.constant(forward, dtype), tf.constant(inverse, dtype)


def transform(x, dct_type, event_rank, inverse=False):
  """DCT (or its inverse) of x over H and W ([N, H, W, C], event_rank 3) or
  over the features ([N, D], event_rank 1)."""
  pick = 1 if inverse else 0
  if event_rank == 1:
    m = matrices(x.shape[-1], dct_type, x.dtype)[pick]
    return tf.einsum('kn,bn->bk', m, x)
  rows = matrices(x.shape[-3], dct_type, x.dtype)[pick]
  cols = matrices(x.shape[-2], dct_type, x.dtype)[pick]
  return tf.einsum('kh,lw,bhwc->bklc', rows, cols, x)


def filter_in_frequency(x, spectrum, dct_type, event_rank):
  """DCT^-1(spectrum * DCT(x)): a depthwise symmetric convolution."""
  return transform(spectrum * transform(x, dct_type, event_rank), dct_type,
                   event_rank, inverse=True)
