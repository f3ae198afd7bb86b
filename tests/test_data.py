"""Data pipelines: the embedded digits, .npz files, tensorflow-datasets and
image folders."""

import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from training import data


def test_digits_are_embedded_with_17_levels():
  digits = data.load('digits')
  assert digits.image_shape == (8, 8, 1) and digits.num_levels == 17
  batch = next(iter(data.batches(digits, 32)))
  assert batch.dtype == tf.uint8 and batch.shape == (32, 8, 8, 1)
  assert int(tf.reduce_max(batch)) <= 16


def test_npz_dataset(tmp_path):
  path = str(tmp_path / 'tiny.npz')
  np.savez(path, x_train=np.zeros((10, 4, 4), np.uint8),
           x_test=np.ones((3, 4, 4), np.uint8))
  test = data.load(path, 'test')
  assert test.image_shape == (4, 4, 1) and test.size == 3
  assert test.num_levels == 256


def test_tfds_loading_with_mock_data():
  with tfds.testing.mock_data(num_examples=5):
    mnist = data.load('mnist', 'train')
    batch = next(iter(data.batches(mnist, 5, flip=True)))
  assert mnist.image_shape == (28, 28, 1)
  assert batch.shape == (5, 28, 28, 1) and batch.dtype == tf.uint8


def test_missing_tfds_dataset_is_a_clear_message(tmp_path):
  start = time.perf_counter()
  with pytest.raises(data.DataError, match="could not load tensorflow-datasets "
                     "'cifar10' .* not prepared there: pass --download"):
    data.load('cifar10', 'train', data_dir=str(tmp_path))
  assert time.perf_counter() - start < 10  # no download retries


def _image_folder(path, count, size=(4, 4)):
  from PIL import Image
  path.mkdir()
  for i in range(count):
    Image.fromarray(np.full(size, i, np.uint8)).save(path / f'{i:02d}.png')
  return str(path)


def test_image_folder_holds_out_a_seeded_test_split(tmp_path):
  folder = _image_folder(tmp_path / 'images', 20)
  train, test = data.load(folder, 'train'), data.load(folder, 'test')
  assert (train.size, test.size) == (18, 2)
  values = lambda d: {int(x[0, 0, 0]) for x in d.images.as_numpy_iterator()}
  assert not values(train) & values(test)
  assert values(train) | values(test) == set(range(20))
  assert values(data.load(folder, 'test')) == values(test)  # fixed seed
