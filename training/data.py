"""tf.data pipelines of integer images (uint8, NHWC) for flow training.

Sources: the embedded scikit-learn `digits` (8 x 8, 17 grey levels, no
download), a local keras-style `.npz` (`x_train` / `x_test`), a folder of
images, or a tensorflow-datasets name. `load` returns the unbatched images
with their number of grey levels, which the bits/dim accounting needs.
"""

import dataclasses
import os

import numpy as np
import tensorflow as tf

TFDS_IMAGE_SIZES = {'celeb_a': 64}
DIGITS_TRAIN = 1500


@dataclasses.dataclass
class ImageData:
  images: tf.data.Dataset   # unbatched uint8 [H, W, C]
  image_shape: tuple
  num_levels: int
  size: int | None = None


def load(name, split='train', data_dir=None):
  """Loads a dataset by name ('digits', a tfds name) or path (.npz, folder)."""
  if name == 'digits':
    return _digits(split)
  if name.endswith('.npz'):
    return _npz(name, split)
  if os.path.isdir(name):
    return _folder(name)
  return _tfds(name, split, data_dir)


def load_labelled(name, attribute, split='train', data_dir=None):
  """(images, has_attribute) pairs for attribute directions.

  `attribute` is a CelebA attribute name (e.g. 'Smiling') for `celeb_a`, and
  a class index for the other datasets (digits, .npz with y_*, tfds 'label').
  """
  if name == 'digits':
    from sklearn.datasets import load_digits
    digits = load_digits()
    cut = slice(None, DIGITS_TRAIN) if split == 'train' else slice(
        DIGITS_TRAIN, None)
    return _labelled_array(digits.images[cut], digits.target[cut] ==
                           int(attribute))
  if name.endswith('.npz'):
    with np.load(name) as arrays:
      suffix = 'train' if split == 'train' else 'test'
      return _labelled_array(arrays[f'x_{suffix}'],
                             arrays[f'y_{suffix}'].reshape(-1) ==
                             int(attribute))
  import tensorflow_datasets as tfds
  dataset = tfds.load(name, split=split, data_dir=data_dir)
  size = TFDS_IMAGE_SIZES.get(name)
  if name == 'celeb_a':
    label = lambda ex: ex['attributes'][attribute]
  else:
    label = lambda ex: tf.equal(ex['label'], int(attribute))
  return dataset.map(lambda ex: (_prepare(ex['image'], size), label(ex)))


def _labelled_array(images, labels):
  images = np.asarray(images, np.uint8)
  if images.ndim == 3:
    images = images[..., None]
  return tf.data.Dataset.from_tensor_slices((images, np.asarray(labels)))


def _from_array(images, num_levels):
  images = np.asarray(images)
  if images.ndim == 3:
    images = images[..., None]
  return ImageData(tf.data.Dataset.from_tensor_slices(images.astype(np.uint8)),
                   tuple(images.shape[1:]), num_levels, len(images))


def _digits(split):
  from sklearn.datasets import load_digits
  images = load_digits().images.astype(np.uint8)  # values 0..16
  images = images[:DIGITS_TRAIN] if split == 'train' else images[DIGITS_TRAIN:]
  return _from_array(images, 17)


def _npz(path, split):
  if not os.path.exists(path):
    raise FileNotFoundError(f'no such dataset file: {path}')
  with np.load(path) as arrays:
    key = 'x_train' if split == 'train' else 'x_test'
    if key not in arrays:
      raise KeyError(f'{path} has no {key!r} array (keys: {list(arrays)}).')
    return _from_array(arrays[key], 256)


def _folder(path):
  from PIL import Image
  files = sorted(f for f in os.listdir(path)
                 if f.lower().endswith(('.png', '.jpg', '.jpeg', '.bmp')))
  if not files:
    raise FileNotFoundError(f'no images (.png, .jpg, .bmp) in {path}')
  images = np.stack([np.asarray(Image.open(os.path.join(path, f)))
                     for f in files])
  return _from_array(images, 256)


def _tfds(name, split, data_dir):
  import tensorflow_datasets as tfds
  try:
    dataset, info = tfds.load(name, split=split, data_dir=data_dir,
                              with_info=True, shuffle_files=split == 'train')
  except Exception as error:  # tfds raises many types; all mean "not here"
    raise RuntimeError(
        f'could not load tensorflow-datasets {name!r} (split {split!r}, '
        f'data dir {data_dir or "default"}): {type(error).__name__}: '
        f'{str(error).splitlines()[0] if str(error) else ""}. Prepare it with '
        f'`tfds build {name}` or pass a local .npz / image folder.') from None
  size = TFDS_IMAGE_SIZES.get(name)
  images = dataset.map(lambda ex: _prepare(ex['image'], size),
                       num_parallel_calls=tf.data.AUTOTUNE)
  shape = tuple(images.element_spec.shape)
  return ImageData(images, shape, 256, _known_size(images))


def _known_size(images):
  size = int(images.cardinality())
  return size if size >= 0 else None


def _prepare(image, size):
  """Glow's CelebA preprocessing when `size` is set: centre crop, resize."""
  if size is None:
    return image
  height, width = tf.shape(image)[0], tf.shape(image)[1]
  side = tf.minimum(height, width)
  image = tf.image.crop_to_bounding_box(image, (height - side) // 2,
                                        (width - side) // 2, side, side)
  image = tf.image.resize(image, [size, size], antialias=True)
  return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def batches(data, batch_size, shuffle=True, flip=False, seed=None,
            repeat=False):
  """Shuffled, optionally flipped, batched and prefetched images."""
  images = data.images
  if shuffle:
    images = images.shuffle(min(data.size or 10000, 10000), seed=seed)
  if repeat:
    images = images.repeat()
  if flip:
    images = images.map(tf.image.random_flip_left_right,
                        num_parallel_calls=tf.data.AUTOTUNE)
  return images.batch(batch_size, drop_remainder=repeat).prefetch(
      tf.data.AUTOTUNE)


def mean_bits_per_dim(model, data, batch_size=256):
  """Average bits/dim of `model` over every image of `data`, in order."""
  bits_per_dim = tf.function(model.bits_per_dim)
  values = [bits_per_dim(batch).numpy()
            for batch in batches(data, batch_size, shuffle=False)]
  return float(np.mean(np.concatenate(values)))
