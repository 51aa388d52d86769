"""Checks for chapter 08, the Fashion-MNIST data set.

``REQUIREMENTS`` (at the end) maps each sentence of the exercises' prompts to the checks
that fail when it is broken; tests/test_chapter_08.py holds a submission per row. No
exercise here calls another, so no stand-ins are needed.
"""
from __future__ import annotations

import inspect

import torch

from autograder.checks.common import call, take
from autograder.compare import describe, expect_tensor
from autograder.spec import Check, CheckFailed, Exercise, Requirement
from autograder.untrusted.wire import WireTensor

CHAPTER = "08_fashion_mnist"


# -- get_fashion_mnist_labels ----------------------------------------------------------
def _labels_inputs(gen):
    return {"labels": torch.randint(0, 10, (12,), generator=gen),
            "as_list": torch.randint(0, 10, (5,), generator=gen).tolist()}


def _labels_tensor(ns, inputs, ctx):
    return {"result": call(ctx, ns, "get_fashion_mnist_labels", inputs["labels"].clone().to(ctx.device))}


def _labels_other(ns, inputs, ctx):
    return {"list": call(ctx, ns, "get_fashion_mnist_labels", list(inputs["as_list"])),
            "empty": call(ctx, ns, "get_fashion_mnist_labels", torch.zeros(0, dtype=torch.int64, device=ctx.device))}


def _expect_names(got, want, what):
    if not isinstance(got, list):
        raise CheckFailed(f"{what} returned {describe(got)}; expected a list of {len(want)} str")
    if len(got) != len(want):
        raise CheckFailed(f"{what} returned {len(got)} names; expected one per label, {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            raise CheckFailed(f"{what}: item {i} is {describe(g)}; expected {w!r} "
                              f"(the names in the cell, indexed by int(label))")


def _cmp_labels_tensor(got, want, inputs, tol):
    _expect_names(got["result"], want["result"],
                  f"get_fashion_mnist_labels(an int64 tensor of shape (12,): {inputs['labels'].tolist()})")


def _cmp_labels_other(got, want, inputs, tol):
    _expect_names(got["list"], want["list"], f"get_fashion_mnist_labels({inputs['as_list']}) (a list of ints)")
    _expect_names(got["empty"], want["empty"], "get_fashion_mnist_labels(an empty int64 tensor)")


# -- class_counts ------------------------------------------------------------------------
def _counts_inputs(gen):
    return {"y": torch.randint(0, 10, (500,), generator=gen),
            "sparse": torch.tensor([1, 3, 3, 1, 1, 0])}


def _counts_values(ns, inputs, ctx):
    return {"result": call(ctx, ns, "class_counts", inputs["y"].clone().to(ctx.device))}


def _counts_absent(ns, inputs, ctx):
    y = inputs["sparse"].clone().to(ctx.device)
    return {"six": call(ctx, ns, "class_counts", y, 6), "ten": call(ctx, ns, "class_counts", y)}


def _cmp_counts_values(got, want, inputs, tol):
    expect_tensor(got["result"], want["result"], "class_counts(y of shape (500,), int64 labels 0–9)", tol)


def _cmp_counts_absent(got, want, inputs, tol):
    y = inputs["sparse"].tolist()
    for key, what in (("six", f"class_counts({y}, num_classes=6)"), ("ten", f"class_counts({y})")):
        g = got[key]
        if isinstance(g, WireTensor) and g.shape != want[key].shape:
            raise CheckFailed(f"{what} returned shape {g.shape}; expected {want[key].shape}: one count per "
                              "class, with 0 for the classes that never occur (torch.bincount's minlength)")
        expect_tensor(g, want[key], what, tol)


# -- tensor_batches ------------------------------------------------------------------------
def _batch_inputs(gen):
    return {"cases": [(47, 10), (30, 10), (8, 20), (25, 1)]}


def _indexed(n, device):
    """Examples whose values name them: X[i] is a (2, 2) uint8 block of i's, y[i] = 7 * i."""
    idx = torch.arange(n)
    X = idx.to(torch.uint8).reshape(-1, 1, 1).expand(n, 2, 2).clone()
    return X.to(device), (7 * idx).to(device)


def _batch_epochs(ns, inputs, ctx):
    out, kinds = [], []
    for n, batch_size in inputs["cases"]:
        X, y = _indexed(n, ctx.device)
        g = torch.Generator().manual_seed(ctx.seed)
        result = call(ctx, ns, "tensor_batches", X, y, batch_size, True, g)
        kinds.append("generator" if inspect.isgenerator(result) else type(result).__name__)
        out.append(take(result))
    return {"results": out, "kinds": kinds}


def _batch_in_order(ns, inputs, ctx):
    X, y = _indexed(23, ctx.device)
    return {"results": take(call(ctx, ns, "tensor_batches", X, y, 5, shuffle=False))}


def _batch_shuffle(ns, inputs, ctx):
    X, y = _indexed(100, ctx.device)

    def order(generator):
        return torch.cat([Xb[:, 0, 0] for Xb, _ in take(call(ctx, ns, "tensor_batches", X, y, 10,
                                                               generator=generator))])
    return {"a": order(torch.Generator().manual_seed(ctx.seed)),
            "b": order(torch.Generator().manual_seed(ctx.seed)),
            "c": order(torch.Generator().manual_seed(ctx.seed + 1)),
            "none": order(None)}


def _batches(result, what):
    if not isinstance(result, list):
        raise CheckFailed(f"{what} gave {describe(result)}; expected an iterable of (X_batch, y_batch)")
    for item in result:
        if not isinstance(item, (tuple, list)) or len(item) != 2 or \
                not all(isinstance(t, WireTensor) for t in item):
            raise CheckFailed(f"{what} yielded {describe(item)}; expected (X_batch, y_batch) tensors")
    return result


def _check_batch_form(batches, what):
    for Xb, yb in batches:
        if Xb.shape[1:] != (2, 2) or Xb.dtype != torch.uint8:
            raise CheckFailed(f"{what} yielded X_batch of shape {Xb.shape}, dtype {Xb.dtype}; expected "
                              "(batch, 2, 2) uint8 — the examples as stored, indexed along the first axis")
        if len(yb.shape) != 1 or len(yb.values) != len(Xb.values):
            raise CheckFailed(f"{what} yielded X_batch of shape {Xb.shape} with y_batch of shape {yb.shape}; "
                              "expected one label per example")


def _cmp_batch_epochs(got, want, inputs, tol):
    for (n, batch_size), result in zip(inputs["cases"], got["results"]):
        what = f"tensor_batches(X (uint8, shape ({n}, 2, 2)), y ({n},), {batch_size}, shuffle=True)"
        batches = _batches(result, what)
        _check_batch_form(batches, what)
        sizes = [len(Xb.values) for Xb, _ in batches]
        expected = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
        if sizes != expected:
            raise CheckFailed(f"{what} yielded batches of sizes {sizes[:8]}; expected {expected[:8]} "
                              "(full batches, then a smaller last one)")
        rows = torch.cat([Xb.values[:, 0, 0] for Xb, _ in batches]).long()
        labels = torch.cat([yb.values for _, yb in batches]).long()
        if sorted(rows.tolist()) != list(range(n)):
            repeated = len(rows) - len(set(rows.tolist()))
            raise CheckFailed(f"{what}: examples were dropped or repeated ({repeated} repeated, "
                              f"{n - len(set(rows.tolist()))} missing); each must appear once per epoch")
        if not torch.equal(labels, 7 * rows):
            raise CheckFailed(f"{what}: X and y were not indexed with the same indices, so examples "
                              "and labels no longer match")
    kind = got["kinds"][0]
    if kind != "generator":
        raise CheckFailed(f"tensor_batches(...) returned a {kind}; the exercise asks for a generator: "
                          "`yield` each (X_batch, y_batch) in a loop over the permuted indices")


def _cmp_batch_in_order(got, want, inputs, tol):
    what = "tensor_batches(X (uint8, shape (23, 2, 2)), y (23,), 5, shuffle=False)"
    batches = _batches(got["results"], what)
    _check_batch_form(batches, what)
    sizes = [len(Xb.values) for Xb, _ in batches]
    if sizes != [5, 5, 5, 5, 3]:
        raise CheckFailed(f"{what} yielded batches of sizes {sizes}; expected [5, 5, 5, 5, 3]")
    rows = torch.cat([Xb.values[:, 0, 0] for Xb, _ in batches]).long()
    if rows.tolist() != list(range(23)):
        raise CheckFailed(f"{what} gave the examples in the order {rows.tolist()[:10]}…; with "
                          "shuffle=False they must come in the stored order 0, 1, 2, …")
    labels = torch.cat([yb.values for _, yb in batches]).long()
    if not torch.equal(labels, 7 * rows):
        raise CheckFailed(f"{what}: the labels do not match their examples")


def _cmp_batch_shuffle(got, want, inputs, tol):
    what = "tensor_batches(X (100, 2, 2), y (100,), 10, generator=g)"
    for key in "abc":
        if not isinstance(got[key], WireTensor):
            raise CheckFailed(f"{what} gave {describe(got[key])}")
    a, b, c = (got[k].values.long() for k in "abc")
    if a.tolist() == list(range(100)):
        raise CheckFailed(f"{what} returned the examples in order; with shuffle=True (the default) "
                          "draw a random order with torch.randperm(n, generator=generator)")
    if not torch.equal(a, b):
        raise CheckFailed(f"{what}: two generators seeded alike gave different orders; draw the "
                          "order with generator=generator")
    if torch.equal(a, c):
        raise CheckFailed(f"{what}: generators with different seeds gave the same order")
    expected = want["a"].values.long()
    if not torch.equal(a, expected):
        raise CheckFailed(f"{what}: the order {a.tolist()[:6]}… is not torch.randperm(100, generator=g)'s, "
                          f"{expected.tolist()[:6]}…; draw the permutation with one call of "
                          "torch.randperm(n, generator=generator), before anything else takes numbers "
                          "from that generator")
    none = got["none"]
    if not isinstance(none, WireTensor) or sorted(none.values.long().tolist()) != list(range(100)):
        raise CheckFailed("tensor_batches(X, y, 10, generator=None) did not give every example once; "
                          "without a generator, shuffle with torch's global random numbers")


EXERCISES = [
    Exercise("get_fashion_mnist_labels", (
        Check("tensor_labels", 1, "a tensor of labels gives the list of their names",
              make_inputs=_labels_inputs, probe=_labels_tensor, compare=_cmp_labels_tensor),
        Check("other_inputs", 1, "a list of ints and an empty tensor work too",
              make_inputs=_labels_inputs, probe=_labels_other, compare=_cmp_labels_other),
    )),
    Exercise("class_counts", (
        Check("values", 1, "one int64 count per class, on y's device", tolerance="exact",
              make_inputs=_counts_inputs, probe=_counts_values, compare=_cmp_counts_values),
        Check("absent_classes", 1, "classes that never occur count 0; the length is num_classes",
              tolerance="exact", make_inputs=_counts_inputs, probe=_counts_absent, compare=_cmp_counts_absent),
    )),
    Exercise("tensor_batches", (
        Check("epoch", 2, "every example exactly once per epoch, full batches then a smaller last one, "
              "X and y paired", make_inputs=_batch_inputs, probe=_batch_epochs, compare=_cmp_batch_epochs),
        Check("in_order", 1, "with shuffle=False, consecutive slices in the stored order",
              make_inputs=_batch_inputs, probe=_batch_in_order, compare=_cmp_batch_in_order),
        Check("shuffle", 1, "with shuffle=True, an order drawn from the generator passed in",
              make_inputs=_batch_inputs, probe=_batch_shuffle, compare=_cmp_batch_shuffle),
    )),
]


_LABELS = ("tensor_labels", "other_inputs")
_COUNTS = ("values", "absent_classes")

# Each sentence of the prompts that asks for something, and the checks that fail when it is broken.
REQUIREMENTS = [
    Requirement("labels.list", "get_fashion_mnist_labels", "returns a Python list of the class names", _LABELS,
                "the result is a list"),
    Requirement("labels.in_order", "get_fashion_mnist_labels", "one name per label, in order", _LABELS,
                "labels [0, 9, 6] give their three names in order"),
    Requirement("labels.tensor", "get_fashion_mnist_labels", "labels may be a tensor of integers (on any device)",
                ("tensor_labels",), "a tensor of labels"),
    Requirement("labels.list_input", "get_fashion_mnist_labels", "or a plain list of ints", ("other_inputs",),
                "a plain list [1, 8]"),
    Requirement("labels.names_as_given", "get_fashion_mnist_labels", "The names are given in the cell; use them "
                "as they are", _LABELS, "the names of labels 0, 9 and 6"),
    Requirement("counts.int64", "class_counts", "an int64 tensor", _COUNTS, "the dtype of the counts"),
    Requirement("counts.shape", "class_counts", "of shape (num_classes,)", ("absent_classes",),
                "class_counts([1, 1], num_classes=4) has 4 entries"),
    Requirement("counts.values", "class_counts", "whose entry c is the number of labels in y equal to c", _COUNTS,
                "class_counts([0, 2, 2, 9, 2])"),
    Requirement("counts.absent", "class_counts", "including zeros for classes that do not occur",
                ("absent_classes",), "classes that never occur count 0"),
    Requirement("counts.device", "class_counts", "The result must be on y's device", _COUNTS),
    Requirement("batches.generator_function", "tensor_batches", "Write a generator", ("epoch",),
                "inspect.isgenerator"),
    Requirement("batches.pairs", "tensor_batches", "a generator that yields (X_batch, y_batch) pairs",
                ("epoch", "in_order", "shuffle"), "the batches unpack as (X_batch, y_batch)"),
    Requirement("batches.once", "tensor_batches", "covering every example exactly once per epoch",
                ("epoch", "shuffle"), "every example appears once"),
    Requirement("batches.sizes", "tensor_batches", "in batches of batch_size with a smaller last batch when "
                "batch_size does not divide n", ("epoch", "in_order"), "23 examples in batches of 5"),
    Requirement("batches.generator", "tensor_batches", "with shuffle=True the order is a random permutation drawn "
                "with torch.randperm(n, generator=generator)", ("shuffle",), "generators seeded alike agree"),
    Requirement("batches.randperm", "tensor_batches", "the order is the permutation torch.randperm(n, "
                "generator=generator) draws", ("shuffle",), "the order is randperm's with the same seed"),
    Requirement("batches.shuffle_default", "tensor_batches", "shuffle=True is the default (the signature)",
                ("shuffle",), "the default order is shuffled"),
    Requirement("batches.in_order", "tensor_batches", "with shuffle=False the batches are consecutive slices in "
                "the stored order", ("in_order",), "shuffle=False keeps the stored order"),
    Requirement("batches.same_indices", "tensor_batches", "Index X and y with the same indices", ("epoch",),
                "X and y stay paired"),
    Requirement("batches.as_stored", "tensor_batches", "return the batches as they are stored (no conversion: X "
                "may be uint8)", ("epoch", "in_order"), "the batches keep X's dtype"),
]
