"""tf.data pipelines of integer images (uint8, NHWC) for flow training.

Sources: the embedded scikit-learn `digits` (8 x 8, 17 grey levels, no
download), a local keras-style `.npz` (`x_train` / `x_test`), a folder of
images, or a tensorflow-datasets name. `load` returns the unbatched images
with their number of grey levels, which the bits/dim accounting needs.
"""

import dataclasses
import os
import zipfile

import numpy as np
import tensorflow as tf

TFDS_IMAGE_SIZES = {'celeb_a': 64}
DIGITS_TRAIN = 1500
# An image folder has no test split: this share of it, drawn with this seed,
# is held out as one.
FOLDER_TEST_FRACTION = 0.1
FOLDER_SPLIT_SEED = 0


class DataError(ValueError):
  """A dataset that cannot be used as given; the message names the cause."""


class MissingSplit(DataError):
  """The dataset has no such split (an .npz without `x_test`, say)."""


@dataclasses.dataclass
class ImageData:
  images: tf.data.Dataset   # unbatched uint8 [H, W, C]
  image_shape: tuple
  num_levels: int
  size: int | None = None


def load(name, split='train', data_dir=None, download=False):
  """Loads a dataset by name ('digits', a tfds name) or path (.npz, folder).

  A tensorflow-datasets name must be prepared in `data_dir` already unless
  `download` is set (which needs the network)."""
  if name == 'digits':
    return _digits(split)
  if name.endswith('.npz'):
    return _npz(name, split)
  if os.path.isdir(name):
    return _folder(name, split)
  if os.sep in name or name.startswith('.'):
    raise DataError(f'no such dataset folder or file: {name}')
  return _tfds(name, split, data_dir, download)


def load_labelled(name, attribute, split='train', data_dir=None):
  """(images, has_attribute) pairs for attribute directions.

  `attribute` is a CelebA attribute name (e.g. 'Smiling') for `celeb_a`, and
  a class index for the other datasets (digits, .npz with y_*, tfds 'label').
  """
  if name != 'celeb_a' and not str(attribute).isdigit():
    raise DataError(f'--attribute {attribute!r}: {name} has class labels; '
                    'give a class index such as 3')
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


def checked_pixels(images, num_levels, source):
  """`images` as uint8 [N, H, W, C] after checking that they are integer
  pixels in [0, num_levels); raises DataError naming `source` otherwise."""
  images = np.asarray(images)
  if images.dtype.kind not in 'ui':
    raise DataError(f'{source}: pixels are {images.dtype}, expected integers '
                    f'in [0, {num_levels}) such as uint8')
  if images.ndim == 3:
    images = images[..., None]
  if images.ndim != 4 or not images.size:
    raise DataError(f'{source}: expected a non-empty array of images '
                    f'[N, H, W] or [N, H, W, C], got shape {images.shape}')
  low, high = int(images.min()), int(images.max())
  if low < 0 or high >= num_levels:
    raise DataError(f'{source}: pixel values span [{low}, {high}], outside '
                    f'[0, {num_levels})')
  return images.astype(np.uint8 if num_levels <= 256 else np.int32)


def _from_array(images, num_levels, source):
  images = checked_pixels(images, num_levels, source)
  return ImageData(tf.data.Dataset.from_tensor_slices(images),
                   tuple(images.shape[1:]), num_levels, len(images))


def _digits(split):
  from sklearn.datasets import load_digits
  images = load_digits().images.astype(np.uint8)  # values 0..16
  images = images[:DIGITS_TRAIN] if split == 'train' else images[DIGITS_TRAIN:]
  return _from_array(images, 17, 'digits')


def _npz(path, split):
  if not os.path.exists(path):
    raise DataError(f'no such dataset file: {path}')
  key = 'x_train' if split == 'train' else 'x_test'
  try:
    with np.load(path, allow_pickle=False) as arrays:
      if key not in arrays:
        raise MissingSplit(f'{path} has no {key!r} array (it has '
                        f'{", ".join(arrays.files) or "none"})')
      images = arrays[key]
  except DataError:
    raise
  except (OSError, ValueError, zipfile.BadZipFile) as error:
    raise DataError(f'{path} is not a readable .npz file '
                    f'({type(error).__name__})') from None
  return _from_array(images, 256, f'{path}[{key}]')


def folder_split(count, split):
  """Indices of an image folder's `split`: a fixed random share
  (FOLDER_TEST_FRACTION, seed FOLDER_SPLIT_SEED, at least one image) is the
  test split, the rest the training split."""
  order = np.random.default_rng(FOLDER_SPLIT_SEED).permutation(count)
  test_count = max(1, round(count * FOLDER_TEST_FRACTION))
  if count < 2:
    raise DataError('an image folder needs at least 2 images to hold one '
                    'out for testing')
  return np.sort(order[:test_count] if split == 'test'
                 else order[test_count:])


def _read_image(path):
  from PIL import Image
  try:
    with Image.open(path) as image:
      return np.asarray(image)
  except (OSError, SyntaxError) as error:
    raise DataError(f'cannot read image {path} ({type(error).__name__})'
                    ) from None


def _folder(path, split):
  files = sorted(f for f in os.listdir(path)
                 if f.lower().endswith(('.png', '.jpg', '.jpeg', '.bmp')))
  if not files:
    raise DataError(f'no images (.png, .jpg, .bmp) in {path}')
  files = [files[i] for i in folder_split(len(files), split)]
  images = []
  for name in files:
    image = _read_image(os.path.join(path, name))
    if images and image.shape != images[0].shape:
      raise DataError(_mismatch(os.path.join(path, files[0]), images[0].shape,
                                os.path.join(path, name), image.shape))
    images.append(image)
  return _from_array(np.stack(images), 256, path)


def _mismatch(first, first_shape, other, other_shape):
  """Why two images of a folder cannot train together."""
  if first_shape[:2] == other_shape[:2]:
    def mode(shape):
      return 'one channel (grey)' if len(shape) == 2 else f'{shape[-1]} channels'
    return (f'{other} has {mode(other_shape)}, but {first} has '
            f'{mode(first_shape)}: every image of a folder must have the '
            'same channels (convert them all to grey or all to RGB)')
  return (f'{other} is {other_shape[1]} x {other_shape[0]}, but {first} is '
          f'{first_shape[1]} x {first_shape[0]}: every image of a folder '
          'must have one size')


def _tfds(name, split, data_dir, download):
  import tensorflow_datasets as tfds
  try:
    dataset = tfds.load(name, split=split, data_dir=data_dir,
                        download=download, shuffle_files=split == 'train')
  except Exception as error:  # tfds raises many types; all mean "not here"
    if split != 'train' and _lacks_split(name, split, data_dir):
      raise MissingSplit(f'{name} has no {split!r} split') from None
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ''
    hint = ('' if download else ' it is not prepared there: pass --download '
            '(needs the network) or run `tfds build ' + name + '`, or use a '
            'local .npz or image folder;')
    raise DataError(
        f'could not load tensorflow-datasets {name!r} (split {split!r}, '
        f'data dir {data_dir or "default"}):{hint} {type(error).__name__}: '
        f'{first_line[:200]}') from None
  size = TFDS_IMAGE_SIZES.get(name)
  images = dataset.map(lambda ex: _prepare(ex['image'], size),
                       num_parallel_calls=tf.data.AUTOTUNE)
  shape = tuple(images.element_spec.shape)
  return ImageData(images, shape, 256, _known_size(images))


def _lacks_split(name, split, data_dir):
  """True when tensorflow-datasets knows `name` and it has no `split`."""
  import tensorflow_datasets as tfds
  try:
    return split not in tfds.builder(name, data_dir=data_dir).info.splits
  except Exception:  # an unknown or unprepared dataset: not known to lack it
    return False


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
            repeat=False, skip=0):
  """Shuffled, optionally flipped, batched and prefetched images.

  The repeated stream is shuffled once with `seed`, so every iterator of
  the dataset yields the same order: it does not depend on how often the
  dataset was iterated before (a distribution strategy iterates it more
  often than one device does). It starts `skip` batches in, where a run
  resumed at step `skip` left the same stream (the skipped images are read
  through: about 4 us each, a minute at 200,000 MNIST steps)."""
  images = data.images
  if repeat:
    images = images.repeat()
  if shuffle:
    images = images.shuffle(min(data.size or 10000, 10000), seed=seed,
                            reshuffle_each_iteration=False)
  images = images.skip(skip * batch_size)
  if flip:
    images = images.map(tf.image.random_flip_left_right,
                        num_parallel_calls=tf.data.AUTOTUNE)
  return images.batch(batch_size, drop_remainder=repeat).prefetch(
      tf.data.AUTOTUNE)


def bits_per_dim_per_image(model, data, batch_size=256, progress=False):
  """Bits/dim of `model` on every image of `data`, in order (XLA compiled
  when `model.jit_compile`); with `progress`, a line per tenth of the
  data."""
  bits_per_dim = tf.function(model.bits_per_dim,
                             jit_compile=bool(model.jit_compile))
  values, done, reported = [], 0, 0
  for batch in batches(data, batch_size, shuffle=False):
    values.append(bits_per_dim(batch).numpy())
    done += len(values[-1])
    if progress and data.size and done * 10 // data.size > reported:
      reported = done * 10 // data.size
      so_far = np.concatenate(values)
      finite = np.isfinite(so_far)
      print(f'evaluated {done}/{data.size} images: bits/dim so far: mean '
            f'{np.mean(so_far):.4g}, median {np.median(so_far[finite]):.4f}'
            + (f', {np.sum(~finite)} not finite' if not finite.all() else ''),
            flush=True)
  return np.concatenate(values)


def mean_bits_per_dim(model, data, batch_size=256, progress=False):
  """Average of `bits_per_dim_per_image`."""
  return float(np.mean(bits_per_dim_per_image(model, data, batch_size,
                                              progress)))
