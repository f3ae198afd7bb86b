"""Sample grids: finite images as they are, overflowed ones as red crosses."""

import numpy as np

from training import artifacts


def test_an_overflowed_image_is_a_red_cross_not_a_dark_tile(tmp_path):
  pixels = np.zeros((4, 5, 5, 1), np.int32)  # level 0: black
  pixels[1] = 16
  finite = np.array([True, True, False, True])
  grid = artifacts.grid_image(pixels, 17, rows=2, finite=finite, gap=1)
  assert grid.shape == (11, 11, 3)
  tiles = [grid[r:r + 5, c:c + 5] for r in (0, 6) for c in (0, 6)]
  assert (tiles[0] == 0).all() and (tiles[1] == 255).all()
  assert (tiles[3] == 0).all()
  cross = tiles[2]
  red = np.all(cross == artifacts.OVERFLOW_RED, axis=-1)
  assert red[np.arange(5), np.arange(5)].all()  # both diagonals
  assert red[np.arange(5), 4 - np.arange(5)].all()
  assert (cross[~red] == 255).all()  # on white: nothing dark
  artifacts.save_grid(str(tmp_path / 'grid.png'), pixels, 17, rows=2,
                      finite=finite, title='samples')
  assert (tmp_path / 'grid.png').stat().st_size > 0


def test_without_a_mask_every_tile_is_the_image():
  pixels = np.random.default_rng(0).integers(0, 17, (3, 4, 4, 3))
  grid = artifacts.grid_image(pixels, 17, rows=1, gap=0)
  np.testing.assert_array_equal(
      grid, np.concatenate(list(artifacts.to_grey_uint8(pixels, 17)), axis=1))
