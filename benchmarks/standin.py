"""What one stand-in call costs: chapter 09's ``accuracy`` answered by the trusted side.

    .venv/bin/python benchmarks/standin.py [--calls 2000] [--repeat 5] [--threads 1]

A chapter-09 submission whose ``accuracy`` fails its own checks re-runs its training with
``accuracy`` standing in (autograder/untrusted/standin.py): 981 calls, each with
``y_hat`` of shape (256, 10), float32, and ``y`` of shape (256,), int64. Each call sends its
arguments to the grader, which runs the reference (autograder/oracle.py) and sends back the
result, the effects on the arguments and torch's random state. Measured here, per call:

* reference — the reference ``accuracy`` called directly: the baseline, what the call itself
  costs;
* direct — the proxy over ``DirectTransport`` (the nbgrader path: the trusted side in this
  process, the message still written out and read back);
* socket — the proxy in another process (a ``python`` started here, as the harness is)
  asking an ``OracleServer`` in this one over its Unix socket, as batch grading does.

Each figure is the median over ``--repeat`` runs of ``--calls`` calls (after a warm-up run),
in milliseconds per call, with its ratio to the reference measured in the same run. Both
processes use ``--threads`` torch threads (1 by default, so the two do not compete for cores).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from autograder.untrusted import standin  # noqa: E402
from course.timing import median_time  # noqa: E402

CHAPTER = "09_softmax_regression_training"
NAME = "accuracy"


def arguments() -> tuple[torch.Tensor, torch.Tensor]:
    """One training batch's ``accuracy(y_hat.detach(), y)`` arguments."""
    g = torch.Generator().manual_seed(0)
    return torch.randn(256, 10, generator=g), torch.randint(0, 10, (256,), generator=g)


def ms_per_call(fn, calls: int, repeat: int) -> float:
    """Median over ``repeat`` runs (after one warm-up run) of the milliseconds per call of ``fn()``."""
    def run():
        for _ in range(calls):
            fn()
    return median_time(run, repeat=repeat, warmup=1) / calls * 1e3


def client(path: str, calls: int, repeat: int) -> None:
    """The harness's side, in its own process: the proxy over the socket at ``path``."""
    y_hat, y = arguments()
    proxy = standin.make_proxy(NAME, standin.SocketTransport(path))
    print(json.dumps({"ms": ms_per_call(lambda: proxy(y_hat, y), calls, repeat)}))


def socket_ms(oracle, calls: int, repeat: int, threads: int) -> float:
    """The proxy in a child process asking an ``OracleServer`` in this one."""
    from autograder.oracle import OracleServer
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "oracle.sock"
        with OracleServer(path, oracle, None):
            cmd = [sys.executable, __file__, "--client", str(path), "--calls", str(calls),
                   "--repeat", str(repeat), "--threads", str(threads)]
            out = subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["ms"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--client", help=argparse.SUPPRESS)  # the child process's socket
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.client:
        client(args.client, args.calls, args.repeat)
        return 0

    from autograder.chapter import load_chapter
    from autograder.oracle import Oracle
    oracle = Oracle(load_chapter(CHAPTER), "cpu", [NAME])
    y_hat, y = arguments()
    reference = oracle.ns[NAME]
    direct = standin.make_proxy(NAME, standin.DirectTransport(oracle.answer))
    assert direct(y_hat, y) == reference(y_hat, y)

    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
          f"{args.calls} calls x {args.repeat} runs, {args.threads} torch thread(s)\n")
    base = ms_per_call(lambda: reference(y_hat, y), args.calls, args.repeat)
    rows = {"reference": base,
            "direct": ms_per_call(lambda: direct(y_hat, y), args.calls, args.repeat),
            "socket": socket_ms(oracle, args.calls, args.repeat, args.threads)}
    print(f"{'':<10} {'ms/call':>8} {'x reference':>12}")
    for label, ms in rows.items():
        print(f"{label:<10} {ms:>8.4f} {ms / base:>12.1f}")
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
