import collections
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
if os.environ.get('PYTEST_XDIST_WORKER'):
  # Three workers share two cores (make test): ops on one thread each, and
  # in the processes the tests start, spend less CPU waiting on each other
  # (2-3% less CPU and wall time on three test files, twice).
  os.environ.setdefault('TF_NUM_INTRAOP_THREADS', '1')
os.environ.setdefault('KERAS_BACKEND', 'tensorflow')

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seeded():
  keras.utils.set_random_seed(1234)


def pytest_collection_modifyitems(items):
  """Files with more end-to-end (`slow`) tests first, each file's tests kept
  together and in order: under `-n 3 --dist loadfile` (make test) the
  longest files then start first instead of finishing last."""
  slow = collections.Counter(str(item.path) for item in items
                             if item.get_closest_marker('slow'))
  items.sort(key=lambda item: -slow[str(item.path)])
