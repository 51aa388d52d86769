"""Executors: where the same grade-one-submission step runs — this machine's pool of warm
sandboxed workers (local.py), a Dask distributed cluster whose workers each hold such a
pool (dask.py, imported only when a cluster is asked for), or Gradescope's container, one
submission at a time on one such worker (gradescope.py, with the bundle that installs it)."""


class ExecutorError(RuntimeError):
    """An executor could not grade the batch (a cluster out of reach, without workers...);
    the message says what to do."""
