"""One epoch of softmax regression on Fashion-MNIST, four ways, against this machine's floor.

    .venv/bin/python benchmarks/epoch.py [--device cpu|cuda|all] [--repeat 5] [--quick] [--profile]

Softmax regression, 784 inputs × 10 classes, batch size 256, learning rate 0.1, one epoch
over all 60,000 training images. The pipelines:

(a)  d2l: ``torchvision.datasets.FashionMNIST`` with ``ToTensor`` through a ``DataLoader``
     with workers, and the concise model (``nn.Linear``, ``nn.CrossEntropyLoss``, SGD);
(b)  the course's in-memory batches, same model: chapter 08's ``tensor_batches`` (the
     solution's code, read from the notebook) and ``course.batches.TensorBatches`` (chapter 09
     and the grader);
(c)  the best the course can do in PyTorch: the uint8 images held once in memory, one gather of
     the whole epoch into a reused buffer (no index per batch: each batch is a slice), converted
     to float per batch; with the same autograd step, and with the step written out (the
     softmax gradient of chapter 09, ``P - onehot(y)``, in the weight's ``(10, 784)`` layout:
     no autograd, no per-example Python, every view and buffer made once, the 1/255 folded into
     the products); and, index-free, the images converted to float32 once in an order shuffled
     once, each epoch taking the batches (contiguous slices) in a new random order, with the
     step written out — not the same computation (a batch holds the same examples every
     epoch), so it is not a candidate for the best;
(d)  beyond PyTorch: the whole epoch as one C function, compiled here (``cc -O3 -march=native``,
     its compile time reported apart) and called through ctypes, one thread: the same
     permutation from the same generator, each row read straight from the uint8 images
     (prefetched eight rows ahead) and converted in registers, the ten logits of two rows at a
     time, softmax minus one-hot, and ``W -= lr/n (P - Y)ᵀ X`` from the converted rows.

Each pipeline runs in its own process (so its peak resident memory is its own), and prints
the median of ``--repeat`` epochs after one warm-up (wall time, and the process's CPU time,
which the other work on a shared machine inflates less) and its ratio to (a). The warm-up
epoch is also the correctness check: every pipeline that draws the reference's order (all but
(a), whose DataLoader samples on its own, and the index-free blocks) must end it with the
parameters of the reference epoch — d2l's autograd step on float images, from the same
initial parameters, in the order ``randperm(60000, generator seeded 0)`` — up to float
rounding. The floor is the epoch's floating-point operations (forward and weight gradient,
2·2·n·784·10) over the best matrix-multiply rate measured here, or the bytes it must read
(the uint8 images and the labels, once) over the measured memory bandwidth, whichever is
larger; the same floor with the rates measured per CPU second instead of per wall second is
what the pipelines' CPU seconds compare with. ``--profile`` shows where an epoch's CPU time goes: (c)'s operations and (d)'s
phases. Last, the peak memory of grading one chapter-09 submission (the reference
solutions) with ``autograder grade``.
"""
from __future__ import annotations

import argparse
import collections
import ctypes
import functools
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
    "c2": "(c) uint8 epoch gather + slices, step by hand",
    "c3": "(c) float32 once, shuffled blocks, step by hand",
    "d": "(d) the epoch in C (gcc -O3 -march=native)",
}
CHECKED = ("b1", "b2", "c1", "c2", "d")   # the pipelines that draw the reference epoch's order
NOT_THE_SAME = {"c3": "a batch holds the same examples every epoch"}


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


class Ticks:
    """CPU time per part of a loop: ``tick(part)`` charges the time since the last tick to ``part``."""

    def __init__(self):
        self.seconds, self.last = collections.Counter(), time.thread_time()

    def __call__(self, part: str):
        now = time.thread_time()
        self.seconds[part] += now - self.last
        self.last = now


def written_out_step(net, tick=None):
    """The SGD step without autograd: ``step(X, y_row, scale)`` on rows ``X`` (n, 784) holding
    ``scale`` × the images, ``y_row`` the labels as a (1, n) row.

    Logits are computed transposed, ``b + W (10, 784) @ Xᵀ · scale``, and the weight gradient
    as ``(P - onehot) @ X``: in these layouts MKL's products are two to three times faster. The
    logits, the -1s for the one-hot and the bias gradient live in buffers made once.
    """
    W, b = net[1].weight.data, net[1].bias.data
    logits, minus_one = W.new_empty(NUM_OUTPUTS, BATCH_SIZE), W.new_full((1, BATCH_SIZE), -1.0)
    bias_grad, b_column, tick = W.new_empty(NUM_OUTPUTS), b.unsqueeze(1), tick or (lambda part: None)

    def step(X, y_row, scale=1 / 255):
        n = len(X)
        L, m = (logits, minus_one) if n == BATCH_SIZE else (logits[:, :n], minus_one[:, :n])
        torch.addmm(b_column, W, X.T, alpha=scale, out=L); tick("logits: addmm")
        P = torch.softmax(L, 0); P.scatter_add_(0, y_row, m); tick("softmax - onehot")
        W.addmm_(P, X, alpha=-LR * scale / n); tick("weight: addmm_")
        b.sub_(torch.sum(P, 1, out=bias_grad), alpha=LR / n); tick("bias: sum, sub_")
    return step


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


def fused_epoch(net, X_u8, y, generator, tick=None):
    """(c), the step written out: the epoch gathered into buffers reused every epoch; per batch,
    its uint8 slice converted into one float buffer, then :func:`written_out_step` (1/255 folded in)."""
    step, tick = written_out_step(net, tick), tick or (lambda part: None)
    X_rows = X_u8.reshape(len(y), -1)
    X_epoch, y_epoch = torch.empty_like(X_rows), torch.empty_like(y)
    X_float = torch.empty(BATCH_SIZE, NUM_INPUTS, device=y.device)
    batches = [(Xb, X_float[:len(yb)], yb.unsqueeze(0))
               for Xb, yb in zip(X_epoch.split(BATCH_SIZE), y_epoch.split(BATCH_SIZE))]

    def epoch():
        order = torch.randperm(len(y), generator=generator).to(y.device)
        torch.index_select(X_rows, 0, order, out=X_epoch)
        torch.index_select(y, 0, order, out=y_epoch); tick("shuffle, gather the epoch")
        for Xb, X, y_row in batches:
            X.copy_(Xb); tick("convert uint8 to float")
            step(X, y_row)
    return epoch


def shuffled_blocks_epoch(net, X_u8, y, generator):
    """(c), index-free: the images converted to float32 once (the one float copy, the uint8
    copy freed) in an order shuffled once; each epoch visits the batches — contiguous slices
    of it — in a new random order. No index per example, no gather, no conversion per batch;
    the price is that a batch holds the same examples every epoch (only their order changes)."""
    order = torch.randperm(len(y), generator=generator).to(y.device)
    X = X_u8.index_select(0, order).reshape(len(y), -1).to(torch.float32).div_(255)
    blocks = list(zip(X.split(BATCH_SIZE), y.index_select(0, order).unsqueeze(0).split(BATCH_SIZE, 1)))
    step = written_out_step(net)

    def epoch():
        for i in torch.randperm(len(blocks), generator=generator).tolist():
            step(*blocks[i], scale=1.0)
    return epoch


KERNEL_C = r"""
/* One epoch of softmax regression (10 classes, 784 inputs) by minibatch SGD, in C with GCC vectors. */
#include <math.h>
#include <stdint.h>
#include <time.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

enum { C = 10, D = 784, V = 16, AHEAD = 8 };
typedef float vf __attribute__((vector_size(4 * V), aligned(4)));
typedef uint8_t vb __attribute__((vector_size(V), aligned(1)));
typedef int32_t vi __attribute__((vector_size(4 * V)));

static inline vf at(const float *p) { return *(const vf *)p; }
#ifdef __AVX512F__  /* GCC 12 converts the vector types below byte by byte */
static inline vf bytes(const uint8_t *p) {
    return (vf)_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)));
}
static inline float total(vf v) { return _mm512_reduce_add_ps((__m512)v); }
#else
static inline vf bytes(const uint8_t *p) {
    return __builtin_convertvector(__builtin_convertvector(*(const vb *)p, vi), vf);
}
static inline float total(vf v) { float s = 0; for (int i = 0; i < V; i++) s += v[i]; return s; }
#endif

static void prefetch_row(const uint8_t *r) {
    for (int k = 0; k < D; k += 64) __builtin_prefetch(r + k, 0, 2);
}

/* L[j] = W x_j / 255 + b for the rows x_j = images[idx[j]], two at a time; X keeps them as floats 0..255 */
static void logits(const uint8_t *images, const int64_t *idx, int n, const float *W, const float *b,
                   float *X, float *L) {
    for (int j = 0; j < n; j += 2) {
        int two = j + 1 < n;
        for (int a = AHEAD; a < AHEAD + 2; a++)
            if (j + a < n) prefetch_row(images + idx[j + a] * D);
        const uint8_t *r0 = images + idx[j] * D, *r1 = images + idx[j + two] * D;
        float *x0 = X + (int64_t)j * D, *x1 = X + (int64_t)(j + two) * D;
        vf s0[C] = {0}, s1[C] = {0};
        for (int k = 0; k < D; k += V) {
            vf u = bytes(r0 + k), v = bytes(r1 + k);
            *(vf *)(x0 + k) = u; *(vf *)(x1 + k) = v;
            for (int c = 0; c < C; c++) {
                vf w = at(W + c * D + k);
                s0[c] += w * u; s1[c] += w * v;
            }
        }
        for (int c = 0; c < C; c++) {
            L[j * C + c] = total(s0[c]) / 255 + b[c];
            L[(j + two) * C + c] = total(s1[c]) / 255 + b[c];
        }
    }
}

/* in place, row by row: L_j becomes softmax(L_j) - onehot(y_j); their sum goes to g */
static void softmax_minus_onehot(float *L, const int64_t *y, int n, float *g) {
    for (int c = 0; c < C; c++) g[c] = 0;
    for (int j = 0; j < n; j++) {
        float *l = L + j * C, m = l[0], s = 0;
        for (int c = 1; c < C; c++) m = l[c] > m ? l[c] : m;
        for (int c = 0; c < C; c++) { l[c] = expf(l[c] - m); s += l[c]; }
        for (int c = 0; c < C; c++) l[c] /= s;
        l[y[j]] -= 1;
        for (int c = 0; c < C; c++) g[c] += l[c];
    }
}

/* W -= alpha G^T X for G (n x C) and X (n x D): two vectors of columns at a time, then one */
static void weight_step(float *W, const float *G, const float *X, int n, float alpha) {
    int k = 0;
    for (; k + 2 * V <= D; k += 2 * V) {
        vf s0[C] = {0}, s1[C] = {0};
        for (int j = 0; j < n; j++) {
            vf u = at(X + (int64_t)j * D + k), v = at(X + (int64_t)j * D + k + V);
            for (int c = 0; c < C; c++) { float d = G[j * C + c]; s0[c] += d * u; s1[c] += d * v; }
        }
        for (int c = 0; c < C; c++) {
            *(vf *)(W + c * D + k) -= alpha * s0[c];
            *(vf *)(W + c * D + k + V) -= alpha * s1[c];
        }
    }
    for (; k < D; k += V) {
        vf s0[C] = {0};
        for (int j = 0; j < n; j++) {
            vf u = at(X + (int64_t)j * D + k);
            for (int c = 0; c < C; c++) s0[c] += G[j * C + c] * u;
        }
        for (int c = 0; c < C; c++) *(vf *)(W + c * D + k) -= alpha * s0[c];
    }
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* One epoch, the batches being consecutive slices of order. X (batch x D), L (batch x C) and y (batch)
   are scratch; seconds, when not NULL, accumulates the CPU time of the three parts of each step. */
void sgd_epoch(const uint8_t *images, const int64_t *labels, const int64_t *order, int64_t N, int batch,
               float lr, float *W, float *b, float *X, float *L, int64_t *y, double *seconds) {
    float g[C];
    for (int64_t i = 0; i < N; i += batch) {
        int n = (int)(N - i < batch ? N - i : batch);
        double t0 = seconds ? now() : 0, t1 = 0, t2 = 0;
        for (int j = 0; j < n; j++) y[j] = labels[order[i + j]];
        logits(images, order + i, n, W, b, X, L);
        if (seconds) t1 = now();
        softmax_minus_onehot(L, y, n, g);
        if (seconds) t2 = now();
        weight_step(W, L, X, n, lr / (255.0f * n));
        for (int c = 0; c < C; c++) b[c] -= lr / n * g[c];
        if (seconds) { seconds[0] += t1 - t0; seconds[1] += t2 - t1; seconds[2] += now() - t2; }
    }
}
"""
KERNEL_PHASES = ("gather, convert, logits", "softmax - onehot", "weight and bias update")


@functools.lru_cache(maxsize=1)
def compile_kernel() -> tuple:
    """(d)'s C epoch compiled here and loaded: ``(sgd_epoch, compile seconds)``, or ``(None, why)``."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None, "no C compiler"
    with tempfile.TemporaryDirectory(prefix="epoch-kernel-") as tmp:
        src, lib = Path(tmp) / "sgd_epoch.c", Path(tmp) / "sgd_epoch.so"
        src.write_text(KERNEL_C)
        start = time.perf_counter()
        proc = subprocess.run([cc, "-O3", "-march=native", "-shared", "-fPIC", "-o", str(lib), str(src), "-lm"],
                              capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            return None, f"{cc} failed: {proc.stderr[-500:]}"
        fn = ctypes.CDLL(str(lib)).sgd_epoch  # loaded: the file may go
    ptr = ctypes.c_void_p
    fn.argtypes = [ptr, ptr, ptr, ctypes.c_int64, ctypes.c_int, ctypes.c_float] + [ptr] * 6
    fn.restype = None
    return fn, seconds


def kernel_epoch(net, X_u8, y, generator, seconds=None):
    """(d): :data:`KERNEL_C`'s epoch on the model's own parameters (updated in place), CPU only.
    ``seconds``, a ctypes array of 3 doubles, accumulates the CPU time of its phases."""
    sgd_epoch, _ = compile_kernel()
    W, b = net[1].weight.data, net[1].bias.data
    assert W.is_contiguous() and W.dtype == torch.float32 and W.device.type == "cpu"
    images, labels = X_u8.reshape(len(y), -1).contiguous(), y.contiguous()
    scratch = (torch.empty(BATCH_SIZE, NUM_INPUTS), torch.empty(BATCH_SIZE, NUM_OUTPUTS),
               torch.empty(BATCH_SIZE, dtype=torch.int64))

    def epoch():
        order = torch.randperm(len(labels), generator=generator)
        sgd_epoch(images.data_ptr(), labels.data_ptr(), order.data_ptr(), len(labels), BATCH_SIZE, LR,
                  W.data_ptr(), b.data_ptr(), *(t.data_ptr() for t in scratch), seconds)
    return epoch


def autograd_batches(name: str, device: torch.device, workers: int, generator):
    """The float batches ``(X, y)`` of pipeline (a), b1, b2 or c1: a function that yields one epoch's."""
    from course.batches import TensorBatches, to_float_images
    if name == "a":
        return d2l_batches(device, workers)
    if name == "b2":
        return TensorBatches(*uint8_data(device), BATCH_SIZE, shuffle=True, generator=generator,
                             device=device).__iter__
    if name == "b1":
        X, y, tensor_batches = *uint8_data(device), chapter08_tensor_batches()
        raw = lambda: tensor_batches(X, y, BATCH_SIZE, generator=generator)  # noqa: E731
    else:
        raw = epoch_gather_batches(*uint8_data(device), generator)
    return lambda: ((to_float_images(Xb), yb) for Xb, yb in raw())


def make_epoch(name: str, device: torch.device, workers: int):
    """A function that trains one epoch with pipeline ``name``, and the model it trains."""
    net, step = concise_model(device)
    gen = torch.Generator().manual_seed(0)
    by_hand = {"c2": fused_epoch, "c3": shuffled_blocks_epoch, "d": kernel_epoch}
    if name in by_hand:
        run = by_hand[name](net, *uint8_data(device), gen)
    else:
        batches = autograd_batches(name, device, workers, gen)

        def run():
            for X, y in batches():
                step(X, y)

    def epoch():
        run()
        if device.type == "cuda":
            torch.cuda.synchronize()
    return epoch, net


def reference_parameters() -> list:
    """The parameters after one reference epoch: d2l's autograd step on float images (CPU), from
    the same initial parameters, batches in the order ``randperm(n, generator seeded 0)``."""
    from course.batches import to_float_images
    cpu = torch.device("cpu")
    (X, y), (net, step) = uint8_data(cpu), concise_model(cpu)
    for idx in torch.randperm(len(y), generator=torch.Generator().manual_seed(0)).split(BATCH_SIZE):
        step(to_float_images(X.index_select(0, idx)), y.index_select(0, idx))
    return [p.detach() for p in net.parameters()]


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


def time_pipeline(name: str, device: str, repeat: int, workers: int, reference: str | None) -> dict:
    """Median wall and CPU seconds of ``repeat`` epochs after a warm-up epoch, which is checked
    against the reference parameters saved in ``reference``; peak memory."""
    dev = torch.device(device)
    if name == "baseline":  # torch and the course imported, no data
        import course.batches  # noqa: F401
        return {"rss_mb": peak_rss_mb()}
    if name == "d" and (dev.type != "cpu" or compile_kernel()[0] is None):
        return {"skipped": "CPU only" if dev.type != "cpu" else compile_kernel()[1]}
    epoch, net = make_epoch(name, dev, workers)
    epoch()  # warm-up (caches, worker start-up, allocator), and the epoch checked
    out = {"max_diff": None}
    if reference and name in CHECKED:
        out["max_diff"] = max(float((p.detach().cpu() - q).abs().max())
                              for p, q in zip(net.parameters(), torch.load(reference)))
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        epoch()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    del epoch  # DataLoader workers exit: their peak is then counted
    out.update({"median_s": statistics.median(wall), "times": wall, "cpu_s": statistics.median(cpu),
                "rss_mb": peak_rss_mb(), "workers_rss_mb": children_peak_rss_mb()})
    if name == "d":
        out["compile_s"] = compile_kernel()[1]
    if dev.type == "cuda":
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def run_child(name: str, args) -> dict:
    cmd = [sys.executable, __file__, "--child", name, "--device", args.device_now,
           "--repeat", str(args.repeat), "--workers", str(args.workers), "--threads", str(args.threads),
           "--reference", args.reference]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"pipeline {name} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- the floor ----------------------------------------------------------------------------------
def best_of(fn, repeat=7) -> tuple:
    """The shortest of ``repeat`` runs after a warm-up: (wall seconds, CPU seconds of this process)."""
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu)


def matmul_rates(device: torch.device) -> dict:
    """FLOP/s measured for a 1024² product and for the epoch's own products (best layout), as
    (per wall second, per CPU second)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    A, W = torch.rand(BATCH_SIZE, NUM_INPUTS, device=device), torch.rand(NUM_OUTPUTS, NUM_INPUTS, device=device)
    G, M = torch.rand(NUM_OUTPUTS, BATCH_SIZE, device=device), torch.rand(1024, 1024, device=device)
    small = 2 * BATCH_SIZE * NUM_INPUTS * NUM_OUTPUTS

    def rate(fn, flops, reps=200):
        def many():
            for _ in range(reps):
                fn()
            sync()
        return tuple(flops * reps / seconds for seconds in best_of(many))

    def faster(*rates):
        return tuple(map(max, *rates))
    return {"square": rate(lambda: M @ M, 2 * 1024**3, 3),
            "logits": faster(rate(lambda: A @ W.T, small), rate(lambda: W @ A.T, small)),
            "gradient": faster(rate(lambda: G @ A, small), rate(lambda: A.T @ G.T, small))}


def memory_bandwidth(device: torch.device) -> tuple:
    """Bytes per second of a 256 MB copy (read + write), per wall second and per CPU second."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    src = torch.ones(2**26, device=device)
    dst = torch.empty_like(src)
    return tuple(2 * src.numel() * 4 / seconds for seconds in best_of(lambda: (dst.copy_(src), sync())))


def floor_seconds(device: torch.device, n: int = 60_000) -> dict:
    """The epoch's floor: FLOPs over the best rate measured, or bytes over bandwidth, the larger.

    ``shape_s`` is a second, looser floor: each product at the rate measured for its own shape.
    The ``*_cpu_s`` floors are the same with the rates measured per CPU second instead of per
    wall second: on a machine shared with other work, the pipelines' CPU seconds compare with them.
    """
    one_pass = 2 * n * NUM_INPUTS * NUM_OUTPUTS
    flops = 2 * one_pass                # forward logits + weight gradient
    bytes_ = n * NUM_INPUTS + n * 8     # uint8 images and int64 labels, read once
    measured, bandwidths = matmul_rates(device), memory_bandwidth(device)
    out = {"flops": flops, "bytes": bytes_}
    for clock, suffix in ((0, ""), (1, "_cpu")):
        rates, bw = {k: v[clock] for k, v in measured.items()}, bandwidths[clock]
        rate = max(rates.values())
        out.update({f"rate{suffix}": rate, f"bandwidth{suffix}": bw, f"rates{suffix}": rates,
                    f"compute{suffix}_s": flops / rate, f"memory{suffix}_s": bytes_ / bw,
                    f"floor{suffix}_s": max(flops / rate, bytes_ / bw),
                    f"shape{suffix}_s": max(one_pass / rates["logits"] + one_pass / rates["gradient"], bytes_ / bw)})
    return out


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


# -- where the time goes --------------------------------------------------------------------------
def profile(repeat: int) -> None:
    """Where an epoch's CPU time goes: (c)'s step written out, operation by operation, and (d)'s
    three phases (CPU time of this thread, the mean of ``repeat`` epochs after a warm-up)."""
    cpu = torch.device("cpu")
    data, ticks = uint8_data(cpu), Ticks()
    epoch = fused_epoch(concise_model(cpu)[0], *data, torch.Generator().manual_seed(0), ticks)
    print_profile("c2", epoch, lambda: dict(ticks.seconds), repeat)
    if compile_kernel()[0] is not None:
        seconds = (ctypes.c_double * len(KERNEL_PHASES))()
        epoch = kernel_epoch(concise_model(cpu)[0], *data, torch.Generator().manual_seed(0), seconds)
        print_profile("d", epoch, lambda: dict(zip(KERNEL_PHASES, seconds)), repeat)


def print_profile(name: str, epoch, parts, repeat: int) -> None:
    """Time ``repeat`` epochs and print each part's share; ``parts()`` gives the seconds so far."""
    product_flops = 2 * 60_000 * NUM_INPUTS * NUM_OUTPUTS  # one of the two products, one epoch
    products = ("logits: addmm", "weight: addmm_", KERNEL_PHASES[0], KERNEL_PHASES[2])
    batches = -(-60_000 // BATCH_SIZE)
    epoch()
    before, start = parts(), time.thread_time()
    for _ in range(repeat):
        epoch()
    total, after = (time.thread_time() - start) / repeat, parts()
    print(f"\nprofile of {PIPELINES[name]}: {total * 1e3:.1f} ms CPU per epoch (mean of {repeat})")
    for part, seconds in after.items():
        s = (seconds - before.get(part, 0)) / repeat
        rate = f"  {product_flops / s / 1e9:4.0f} GFLOP/s" if part in products else ""
        print(f"  {part:30s} {s * 1e3:6.2f} ms {s / batches * 1e6:6.1f} us/batch {s / total:4.0%}{rate}")
    rest = total - sum(after[part] - before.get(part, 0) for part in after) / repeat
    if rest > 1e-5:  # a Ticks profile charges the loop's own time to the parts: no rest
        print(f"  {'the rest (loop, timers)':30s} {rest * 1e3:6.2f} ms {rest / batches * 1e6:6.1f} us/batch "
              f"{rest / total:4.0%}")


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
    parser.add_argument("--pipelines", default=",".join(PIPELINES),
                        help=f"comma-separated subset of {','.join(PIPELINES)} (default: all)")
    parser.add_argument("--profile", action="store_true", help="also show where an epoch's time goes (CPU)")
    parser.add_argument("--no-grade", action="store_true", help="skip grading a chapter-09 submission")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--reference", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(time_pipeline(args.child, args.device, args.repeat, args.workers, args.reference)))
        return 0
    if args.quick:
        args.repeat, args.no_grade = min(args.repeat, 2), True
    names = [n for n in args.pipelines.split(",") if n]
    if set(names) - set(PIPELINES):
        parser.error(f"unknown pipelines {sorted(set(names) - set(PIPELINES))}; choose from {list(PIPELINES)}")
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    if not devices:
        parser.error("CUDA is not available here")
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, torch {torch.__version__}, "
          f"{args.threads} thread(s), DataLoader workers {args.workers}, median of {args.repeat} epochs "
          f"after 1 warm-up (the warm-up checked against a reference epoch)")
    with tempfile.TemporaryDirectory(prefix="bench-epoch-") as tmp:
        args.reference = str(Path(tmp) / "reference.pt")
        torch.save(reference_parameters(), args.reference)
        for device in devices:
            args.device_now = device
            run_device(device, names, args)
    if args.profile:
        profile(args.repeat)
    if not args.no_grade:
        g = grading_memory()
        if "error" in g:
            print(f"\ngrading one chapter-09 submission failed:\n{g['error']}")
        else:
            print(f"\ngrading one chapter-09 submission (cpu, --jobs 1): {g['seconds']:.1f} s, peak RSS "
                  f"grader {g['grader_mb']:.0f} MB, harness {g['harness_mb']:.0f} MB")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    return 0


def run_device(device: str, names: list, args) -> None:
    """The floor, then each pipeline in its own process, on one device; prints the table and the goals."""
    floor = floor_seconds(torch.device(device))
    print(f"\n== {device}: one epoch, 60,000 images, batch {BATCH_SIZE}, lr {LR}")
    print(f"floor: {floor['flops'] / 1e9:.2f} GFLOP at {floor['rate'] / 1e9:.0f} GFLOP/s = "
          f"{floor['compute_s'] * 1e3:.1f} ms; {floor['bytes'] / 1e6:.0f} MB at "
          f"{floor['bandwidth'] / 1e9:.0f} GB/s = {floor['memory_s'] * 1e3:.1f} ms; "
          f"floor {floor['floor_s'] * 1e3:.1f} ms")
    print(f"(the epoch's own products run at {floor['rates']['logits'] / 1e9:.0f} (logits) and "
          f"{floor['rates']['gradient'] / 1e9:.0f} (gradient) GFLOP/s: a looser floor of "
          f"{floor['shape_s'] * 1e3:.1f} ms)")
    print(f"per CPU second (what the load inflates less): {floor['rate_cpu'] / 1e9:.0f} GFLOP/s, "
          f"{floor['bandwidth_cpu'] / 1e9:.0f} GB/s, floor {floor['floor_cpu_s'] * 1e3:.1f} ms; the epoch's own "
          f"products {floor['rates_cpu']['logits'] / 1e9:.0f} and {floor['rates_cpu']['gradient'] / 1e9:.0f} "
          f"GFLOP/s, looser floor {floor['shape_cpu_s'] * 1e3:.1f} ms")
    results = {name: run_child(name, args) for name in names}
    baseline = run_child("baseline", args)["rss_mb"]
    base = results["a"]["median_s"] if "a" in results else float("nan")
    print(f"{'pipeline':46s} {'s/epoch':>8s} {'vs (a)':>7s} {'/floor':>7s} {'CPU s':>7s} {'/floor':>7s} "
          f"{'peak RSS':>9s}  max |param - reference|")
    for name, r in results.items():
        if "skipped" in r:
            print(f"{PIPELINES[name]:46s} skipped: {r['skipped']}")
            continue
        extra = f" (+ largest worker {r['workers_rss_mb']:.0f} MB)" if name == "a" else ""
        extra += f" (GPU {r['cuda_peak_mb']:.0f} MB)" if "cuda_peak_mb" in r else ""
        check = f"{r['max_diff']:.1e}" if r["max_diff"] is not None else "-"
        print(f"{PIPELINES[name]:46s} {r['median_s']:8.3f} {base / r['median_s']:6.1f}x "
              f"{r['median_s'] / floor['floor_s']:6.2f}x {r['cpu_s']:7.3f} {r['cpu_s'] / floor['floor_cpu_s']:6.2f}x "
              f"{r['rss_mb']:6.0f} MB  {check}{extra}")
    if "compile_s" in results.get("d", {}):
        print(f"(d) compiled in {results['d']['compile_s']:.2f} s (not in its epochs)")
    same = {k: r for k, r in results.items() if "median_s" in r and k not in NOT_THE_SAME}
    for title, pool in (("best", same), ("best in PyTorch", {k: r for k, r in same.items() if k != "d"})):
        if pool:
            best = min(pool, key=lambda k: pool[k]["median_s"])
            seconds = pool[best]["median_s"]
            cpu_over = pool[best]["cpu_s"] / floor["floor_cpu_s"]
            versus_a = (f" {base / seconds:.0f}x faster than (a) (goal 30x: {'met' if base / seconds >= 30 else 'NOT met'}),"
                        if "a" in results else "")
            print(f"{title}: {best},{versus_a} {seconds / floor['floor_s']:.2f}x the floor "
                  f"(goal 2x: {'met' if seconds <= 2 * floor['floor_s'] else 'NOT met'}; "
                  f"{seconds / floor['shape_s']:.2f}x the looser floor); in CPU seconds {cpu_over:.2f}x the "
                  f"floor per CPU second ({'within' if cpu_over <= 2 else 'NOT within'} 2x)")
    print(f"(not candidates: {'; '.join(f'{k}, {why}' for k, why in NOT_THE_SAME.items())}); one float32 copy "
          f"of the training images is {60_000 * NUM_INPUTS * 4 / 2**20:.0f} MB; a process with torch and the "
          f"course imported, no data: {baseline:.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
