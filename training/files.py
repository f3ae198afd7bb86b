"""Files that a kill never leaves half written."""

import contextlib
import json
import os


@contextlib.contextmanager
def atomic_file(path, newline=None):
  """A file to write at a temporary path, moved over `path` when the block
  ends without an error: a reader, or a process killed mid-write, sees the
  old file or the whole new one, never a part."""
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  with open(path + '.tmp', 'w', newline=newline) as f:
    yield f
    f.flush()
    os.fsync(f.fileno())
  os.replace(path + '.tmp', path)


def write_json(path, value, indent=1):
  """`value` as JSON at `path`, atomically."""
  with atomic_file(path) as f:
    json.dump(value, f, indent=indent)


def read_json(path):
  """The JSON value at `path`, or None when there is no such file."""
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)
