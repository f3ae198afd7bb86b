"""Keeps TensorFlow's native start-up lines off a command-line tool's stderr.

TensorFlow's C++ runtime prints oneDNN, CUDA-driver and cuInit lines while it
loads, before any logging setting applies; on a CPU machine they are noise
that buries a tool's own one-line errors. `import_tensorflow` imports it with
the process's stderr file descriptor sent to /dev/null, and sets
TF_CPP_MIN_LOG_LEVEL=3 (unless the user set it) for what follows.
"""

import contextlib
import os


@contextlib.contextmanager
def native_stderr_silenced():
  """Sends file descriptor 2 (C++ writes) to /dev/null inside the block."""
  saved = os.dup(2)
  devnull = os.open(os.devnull, os.O_WRONLY)
  try:
    os.dup2(devnull, 2)
    yield
  finally:
    os.dup2(saved, 2)
    os.close(saved)
    os.close(devnull)


def import_tensorflow(threads=0, before_first_op=None):
  """Imports TensorFlow quietly, with `threads` threads per pool (0: all
  cores), which must be fixed before the first op; then calls
  `before_first_op()` (e.g. to configure devices or collectives, which
  TensorFlow allows only before it initialises) and returns its result."""
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  with native_stderr_silenced():
    import tensorflow
    if threads:
      tensorflow.config.threading.set_intra_op_parallelism_threads(threads)
      tensorflow.config.threading.set_inter_op_parallelism_threads(threads)
    result = before_first_op() if before_first_op else None
    tensorflow.constant(0)  # device initialisation prints too
  return result
