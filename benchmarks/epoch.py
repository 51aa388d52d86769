"""One epoch of softmax regression on Fashion-MNIST, three ways, against this machine's floor.

    .venv/bin/python benchmarks/epoch.py [--device cpu|cuda|all] [--repeat 5] [--quick]

Softmax regression, 784 inputs × 10 classes, batch size 256, learning rate 0.1, one epoch
over all 60,000 training images. The pipelines:

(a)  d2l: ``torchvision.datasets.FashionMNIST`` with ``ToTensor`` through a ``DataLoader``
     with workers, and the concise model (``nn.Linear``, ``nn.CrossEntropyLoss``, SGD);
(b)  the course's in-memory batches, same model: chapter 08's ``tensor_batches`` (the
     solution's code, read from the notebook) and ``course.batches.TensorBatches`` (chapter 09
     and the grader);
(c)  the best the course can do: the uint8 images held once in memory, one gather of the
     whole epoch into a reused buffer (no index per batch: each batch is a slice), converted
     to float per batch; with the same autograd step, and with the step written out (the
     softmax gradient of chapter 09, ``P - onehot(y)``, in the weight's ``(10, 784)`` layout:
     no autograd, no per-example Python); and, index-free, the images converted to float32
     once in an order shuffled once, each epoch taking the batches (contiguous slices) in a
     new random order, with the step written out.

Each pipeline runs in its own process (so its peak resident memory is its own), and prints
the median of ``--repeat`` epochs after one warm-up and its ratio to (a). The floor is the
epoch's floating-point operations (forward and weight gradient, 2·2·n·784·10) over the best
matrix-multiply rate measured here, or the bytes it must read (the uint8 images and the
labels, once) over the measured memory bandwidth, whichever is larger. Last, the peak memory
of grading one chapter-09 submission (the reference solutions) with ``autograder grade``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCH_SIZE, LR, NUM_INPUTS, NUM_OUTPUTS = 256, 0.1, 784, 10
PIPELINES = {
    "a": "(a) d2l: FashionMNIST + ToTensor + DataLoader",
    "b1": "(b) tensor_batches (chapter 08) + float",
    "b2": "(b) TensorBatches (chapter 09, grader)",
    "c1": "(c) uint8 epoch gather + slices, autograd",
    "c2": "(c) uint8 epoch gather + slices, fused step",
    "c3": "(c) float32 once, shuffled blocks, fused step",
}


# -- the model and its step -------------------------------------------------------------------
def concise_model(device):
    """d2l's concise softmax regression: the model and one SGD step on a batch."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(NUM_INPUTS, NUM_OUTPUTS)).to(device)
    loss = nn.CrossEntropyLoss()
    trainer = torch.optim.SGD(net.parameters(), lr=LR)

    def step(X, y):
        trainer.zero_grad()
        loss(net(X), y).backward()
        trainer.step()
    return net, step


def fused_step(net):
    """The same SGD step without autograd, on uint8 rows: the 1/255 is folded into the products.

    Logits are computed transposed, ``W (10, 784) @ X.T``, and the weight gradient as
    ``(P - onehot).T @ X``: in these layouts MKL's products are two to three times faster.
    """
    W, b = net[1].weight.data, net[1].bias.data
    buffer = torch.empty(BATCH_SIZE, NUM_INPUTS, device=W.device)  # reused: no allocation per batch
    minus_one = torch.full((1, BATCH_SIZE), -1.0, device=W.device)

    def step(X_u8, y, scale=1 / 255):
        n = len(y)
        X = buffer[:n].copy_(X_u8.reshape(n, -1)) if X_u8.dtype == torch.uint8 else X_u8
        P = torch.addmm(b.unsqueeze(1), W, X.T, alpha=scale).softmax(0)  # (10, n)
        P.scatter_add_(0, y.unsqueeze(0), minus_one[:, :n])                # softmax - onehot
        W.addmm_(P, X, alpha=-LR * scale / n)
        b.sub_(P.sum(1), alpha=LR / n)
    return step


def float_step(net):
    """:func:`fused_step` on rows that are already float32 in [0, 1]."""
    step = fused_step(net)
    return lambda X, y: step(X, y, scale=1.0)


# -- the pipelines ----------------------------------------------------------------------------
def d2l_batches(device, workers):
    import torchvision
    from torch.utils import data
    from torchvision import transforms

    from course.data import torchvision_root
    train = torchvision.datasets.FashionMNIST(root=torchvision_root(), train=True,
                                              transform=transforms.ToTensor(), download=False)
    loader = data.DataLoader(train, BATCH_SIZE, shuffle=True, num_workers=workers,
                             pin_memory=device.type == "cuda", persistent_workers=workers > 0)

    def batches():
        for X, y in loader:
            yield X.to(device, non_blocking=True), y.to(device, non_blocking=True)
    return batches


def chapter08_tensor_batches():
    """``tensor_batches`` as chapter 08's solution writes it (read from the notebook)."""
    nb = json.loads((ROOT / "solutions/08_fashion_mnist/08_fashion_mnist.ipynb").read_text())
    cell = next(c for c in nb["cells"]
                if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "tensor_batches")
    ns = {"torch": torch}
    exec("".join(cell["source"]), ns)  # noqa: S102  the course's own code
    return ns["tensor_batches"]


def uint8_data(device):
    from course.data import load_fashion_mnist_uint8
    X, y = load_fashion_mnist_uint8(train=True)
    return X.to(device), y.to(device)


def epoch_gather_batches(X, y, generator):
    """(c): one gather of the epoch's order into a buffer reused every epoch; batches are slices."""
    X_buf, y_buf = torch.empty_like(X), torch.empty_like(y)

    def batches():
        order = torch.randperm(len(y), generator=generator).to(y.device)
        torch.index_select(X, 0, order, out=X_buf)
        torch.index_select(y, 0, order, out=y_buf)
        return zip(X_buf.split(BATCH_SIZE), y_buf.split(BATCH_SIZE))
    return batches


def shuffled_blocks(X_u8, y, generator):
    """(c), index-free: the images converted to float32 once (the one float copy, the uint8
    copy freed) in an order shuffled once; each epoch visits the batches — contiguous slices
    of it — in a new random order. No index per example, no gather, no conversion per batch;
    the price is that a batch holds the same examples every epoch (only their order changes)."""
    order = torch.randperm(len(y), generator=generator).to(y.device)
    X = X_u8.index_select(0, order).reshape(len(y), -1).to(torch.float32).div_(255)
    Xs, ys = X.split(BATCH_SIZE), y.index_select(0, order).split(BATCH_SIZE)

    def batches():
        for i in torch.randperm(len(Xs), generator=generator).tolist():
            yield Xs[i], ys[i]
    return batches


def make_epoch(name: str, device: torch.device, workers: int):
    """A function that trains one epoch with pipeline ``name``."""
    from course.batches import TensorBatches, to_float_images
    net, step = concise_model(device)
    gen = torch.Generator().manual_seed(0)
    if name == "a":
        batches = d2l_batches(device, workers)
    elif name == "b1":
        X, y = uint8_data(device)
        tensor_batches = chapter08_tensor_batches()

        def batches():
            for Xb, yb in tensor_batches(X, y, BATCH_SIZE, generator=gen):
                yield to_float_images(Xb), yb
    elif name == "b2":
        batches = TensorBatches(*uint8_data(device), BATCH_SIZE, shuffle=True, generator=gen,
                                device=device).__iter__
    elif name == "c1":
        raw = epoch_gather_batches(*uint8_data(device), gen)

        def batches():
            for Xb, yb in raw():
                yield to_float_images(Xb), yb
    elif name == "c2":
        batches, step = epoch_gather_batches(*uint8_data(device), gen), fused_step(net)
    else:
        batches, step = shuffled_blocks(*uint8_data(device), gen), float_step(net)

    def epoch():
        for X, y in batches():
            step(X, y)
        if device.type == "cuda":
            torch.cuda.synchronize()
    return epoch


def check_fused_step() -> float:
    """The fused step's parameters after 20 batches, against autograd's: the largest difference."""
    X = torch.randint(0, 256, (20 * BATCH_SIZE, 28, 28), dtype=torch.uint8)
    y = torch.randint(0, 10, (len(X),))
    net_a, step_a = concise_model(torch.device("cpu"))
    net_b, _ = concise_model(torch.device("cpu"))
    step_b = fused_step(net_b)
    for Xb, yb in zip(X.split(BATCH_SIZE), y.split(BATCH_SIZE)):
        step_a(Xb.float().div(255).unsqueeze(1), yb)
        step_b(Xb, yb)
    return max(float((p - q).detach().abs().max()) for p, q in zip(net_a.parameters(), net_b.parameters()))


# -- timing one pipeline, in its own process ------------------------------------------------------
def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited at exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_rss_mb() -> float:
    """The largest peak of a waited-for child (DataLoader workers; counts pages shared at fork)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def time_pipeline(name: str, device: str, repeat: int, workers: int) -> dict:
    dev = torch.device(device)
    if name == "baseline":  # torch and the course imported, no data
        import course.batches  # noqa: F401
        return {"rss_mb": peak_rss_mb()}
    epoch = make_epoch(name, dev, workers)
    epoch()  # warm-up: caches, worker start-up, allocator
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - start)
    del epoch  # DataLoader workers exit: their peak is then counted
    out = {"median_s": statistics.median(times), "times": times, "rss_mb": peak_rss_mb(),
           "workers_rss_mb": children_peak_rss_mb()}
    if dev.type == "cuda":
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def run_child(name: str, args) -> dict:
    cmd = [sys.executable, __file__, "--child", name, "--device", args.device_now,
           "--repeat", str(args.repeat), "--workers", str(args.workers), "--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"pipeline {name} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- the floor ----------------------------------------------------------------------------------
def best_of(fn, repeat=7) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_rates(device: torch.device) -> dict:
    """FLOP/s measured for a 1024² product and for the epoch's own products (best layout)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    A, W = torch.rand(BATCH_SIZE, NUM_INPUTS, device=device), torch.rand(NUM_OUTPUTS, NUM_INPUTS, device=device)
    G, M = torch.rand(NUM_OUTPUTS, BATCH_SIZE, device=device), torch.rand(1024, 1024, device=device)
    small = 2 * BATCH_SIZE * NUM_INPUTS * NUM_OUTPUTS

    def rate(fn, flops, reps=200):
        def many():
            for _ in range(reps):
                fn()
            sync()
        return flops * reps / best_of(many)
    return {"square": rate(lambda: M @ M, 2 * 1024**3, 3),
            "logits": max(rate(lambda: A @ W.T, small), rate(lambda: W @ A.T, small)),
            "gradient": max(rate(lambda: G @ A, small), rate(lambda: A.T @ G.T, small))}


def memory_bandwidth(device: torch.device) -> float:
    """Bytes per second of a 256 MB copy (read + write)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    src = torch.ones(2**26, device=device)
    dst = torch.empty_like(src)
    return 2 * src.numel() * 4 / best_of(lambda: (dst.copy_(src), sync()))


def floor_seconds(device: torch.device, n: int = 60_000) -> dict:
    """The epoch's floor: FLOPs over the best rate measured, or bytes over bandwidth, the larger.

    ``shape_s`` is a second, looser floor: each product at the rate measured for its own shape.
    """
    one_pass = 2 * n * NUM_INPUTS * NUM_OUTPUTS
    flops = 2 * one_pass                # forward logits + weight gradient
    bytes_ = n * NUM_INPUTS + n * 8     # uint8 images and int64 labels, read once
    rates, bw = matmul_rates(device), memory_bandwidth(device)
    rate = max(rates.values())
    return {"flops": flops, "bytes": bytes_, "rate": rate, "bandwidth": bw,
            "compute_s": flops / rate, "memory_s": bytes_ / bw, "floor_s": max(flops / rate, bytes_ / bw),
            "shape_s": max(one_pass / rates["logits"] + one_pass / rates["gradient"], bytes_ / bw),
            "rates": rates}


# -- grading one chapter-09 submission ------------------------------------------------------------
def grading_memory() -> dict:
    """Grade the reference solutions as one chapter-09 submission; wall time and peak memory."""
    chapter = "09_softmax_regression_training"
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        sub = Path(tmp) / "submitted" / "reference" / chapter
        sub.mkdir(parents=True)
        shutil.copy(ROOT / "solutions" / chapter / f"{chapter}.ipynb", sub)
        cmd = [sys.executable, "-c", "import resource, runpy, sys; sys.argv = sys.argv[1:]; "
               "code = 0\ntry: runpy.run_module('autograder', run_name='__main__')\n"
               "except SystemExit as e: code = e.code or 0\n"
               "r = resource.getrusage; print('PEAK', r(resource.RUSAGE_SELF).ru_maxrss, "
               "r(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)",
               "autograder", "grade", str(Path(tmp) / "submitted"), "--chapter", chapter,
               "--device", "cpu", "--jobs", "1", "--out", str(Path(tmp) / "out")]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        seconds = time.perf_counter() - start
        peaks = [ln for ln in proc.stdout.splitlines() if ln.startswith("PEAK")]
        if not peaks:
            return {"error": (proc.stdout + proc.stderr)[-800:]}
        _, self_kb, child_kb = peaks[-1].split()
        summary = Path(tmp) / "out" / "summary.csv"
        return {"seconds": seconds, "grader_mb": int(self_kb) / 1024, "harness_mb": int(child_kb) / 1024,
                "rc": proc.returncode, "summary": summary.read_text().strip() if summary.is_file() else ""}


# -- main -----------------------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "all"],
                        help="cpu, cuda, or all (cpu, and cuda where present)")
    parser.add_argument("--repeat", type=int, default=5, help="timed epochs per pipeline (median)")
    parser.add_argument("--quick", action="store_true", help="2 timed epochs, no grading run")
    parser.add_argument("--workers", type=int, default=4, help="DataLoader workers for (a) (d2l: 4)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1, as chapter 09 and the grader use)")
    parser.add_argument("--no-grade", action="store_true", help="skip grading a chapter-09 submission")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(time_pipeline(args.child, args.device, args.repeat, args.workers)))
        return 0
    if args.quick:
        args.repeat, args.no_grade = min(args.repeat, 2), True
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    if not devices:
        parser.error("CUDA is not available here")
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, torch {torch.__version__}, "
          f"{args.threads} thread(s), DataLoader workers {args.workers}, median of {args.repeat} epochs "
          f"after 1 warm-up; fused step vs autograd, max |difference| after 20 steps: {check_fused_step():.1e}")
    float32_mb = 60_000 * NUM_INPUTS * 4 / 2**20
    for device in devices:
        args.device_now = device
        floor = floor_seconds(torch.device(device))
        print(f"\n== {device}: one epoch, 60,000 images, batch {BATCH_SIZE}, lr {LR}")
        print(f"floor: {floor['flops'] / 1e9:.2f} GFLOP at {floor['rate'] / 1e9:.0f} GFLOP/s = "
              f"{floor['compute_s'] * 1e3:.1f} ms; {floor['bytes'] / 1e6:.0f} MB at "
              f"{floor['bandwidth'] / 1e9:.0f} GB/s = {floor['memory_s'] * 1e3:.1f} ms; "
              f"floor {floor['floor_s'] * 1e3:.1f} ms")
        print(f"(the epoch's own products run at {floor['rates']['logits'] / 1e9:.0f} (logits) and "
              f"{floor['rates']['gradient'] / 1e9:.0f} (gradient) GFLOP/s: a looser floor of "
              f"{floor['shape_s'] * 1e3:.1f} ms)")
        results = {name: run_child(name, args) for name in PIPELINES}
        baseline = run_child("baseline", args)["rss_mb"]
        base = results["a"]["median_s"]
        print(f"{'pipeline':46s} {'s/epoch':>8s} {'vs (a)':>7s} {'/floor':>7s} {'peak RSS':>9s}")
        for name, label in PIPELINES.items():
            r = results[name]
            extra = f" (+ largest worker {r['workers_rss_mb']:.0f} MB)" if name == "a" else ""
            if "cuda_peak_mb" in r:
                extra += f" (GPU {r['cuda_peak_mb']:.0f} MB)"
            print(f"{label:46s} {r['median_s']:8.3f} {base / r['median_s']:6.1f}x "
                  f"{r['median_s'] / floor['floor_s']:6.1f}x {r['rss_mb']:6.0f} MB{extra}")
        best = min(results, key=lambda k: results[k]["median_s"])
        speedup, over = base / results[best]["median_s"], results[best]["median_s"] / floor["floor_s"]
        print(f"best: {best}, {speedup:.0f}x faster than (a) (goal 30x: {'met' if speedup >= 30 else 'NOT met'}), "
              f"{over:.1f}x the floor (goal 2x: {'met' if over <= 2 else 'NOT met'}; "
              f"{results[best]['median_s'] / floor['shape_s']:.1f}x the looser floor); "
              f"one float32 copy of the training images is {float32_mb:.0f} MB; a process with "
              f"torch and the course imported, no data: {baseline:.0f} MB")
    if not args.no_grade:
        g = grading_memory()
        if "error" in g:
            print(f"\ngrading one chapter-09 submission failed:\n{g['error']}")
        else:
            print(f"\ngrading one chapter-09 submission (cpu, --jobs 1): {g['seconds']:.1f} s, peak RSS "
                  f"grader {g['grader_mb']:.0f} MB, harness {g['harness_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
