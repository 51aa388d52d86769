"""Minibatches from a data set held in memory as one tensor (chapters 08 and 09).

Chapter 08 measures why: torchvision's ``DataLoader`` turns every image into a PIL image
and back into a tensor, one at a time, while a tensor in memory gives a whole minibatch in
one indexing operation. The images stay ``uint8`` (47 MB for Fashion-MNIST's training set,
a quarter of float32); each batch is converted to float32 in ``[0, 1]`` as it is read,
exactly as ``transforms.ToTensor`` would — and, with ``resize``, enlarged (or shrunk) as d2l's
``load_data_fashion_mnist(batch_size, resize)`` does with ``transforms.Resize`` before
``ToTensor``, here with ``torch.nn.functional.interpolate`` on the whole batch.
"""
from __future__ import annotations

from typing import Iterator

import torch

from course.data import load_fashion_mnist_uint8


def to_float_images(images: torch.Tensor, resize: int | None = None) -> torch.Tensor:
    """``uint8`` images ``(n, 28, 28)`` → float32 ``(n, 1, 28, 28)`` in ``[0, 1]``, as ToTensor does;
    ``(n, 1, resize, resize)`` with ``resize`` (bilinear, as ``transforms.Resize``)."""
    X = images.to(torch.float32).div_(255) if images.dtype == torch.uint8 else images.float()
    X = X.unsqueeze(1) if X.dim() == 3 else X
    if resize is None:
        return X
    return torch.nn.functional.interpolate(X, size=(resize, resize), mode="bilinear", antialias=True)


class TensorBatches:
    """Minibatches ``(X, y)`` of a data set held in memory; iterate once per epoch.

    Each iteration is one epoch: a fresh permutation (when ``shuffle``), then consecutive
    slices of ``batch_size`` (the last one smaller). Like a ``DataLoader``, it can be
    iterated again for the next epoch, and ``len()`` is the number of batches.

    Args:
        images: ``(n, 28, 28)`` uint8 images (or float images of any shape).
        labels: ``(n,)`` int64 labels.
        batch_size: examples per minibatch.
        shuffle: draw a new order each epoch (training) or keep the stored order (testing).
        generator: the ``torch.Generator`` the orders are drawn from (None: torch's global one).
        device: where the images live and the batches are made.
        resize: the side, in pixels, each image is resized to as its batch is made (None: as stored).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                 shuffle: bool = False, generator: torch.Generator | None = None,
                 device: str | torch.device = "cpu", resize: int | None = None):
        self.images, self.labels = images.to(device), labels.to(device)
        self.batch_size, self.shuffle, self.generator = batch_size, shuffle, generator
        self.resize = resize

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        if not self.shuffle:
            for i in range(0, n, self.batch_size):
                yield (to_float_images(self.images[i: i + self.batch_size], self.resize),
                       self.labels[i: i + self.batch_size])
            return
        order = torch.randperm(n, generator=self.generator).to(self.labels.device)
        for idx in order.split(self.batch_size):
            # index_select gathers whole rows: several times faster than X[idx] on CPU
            yield to_float_images(self.images.index_select(0, idx), self.resize), self.labels.index_select(0, idx)


def load_data_fashion_mnist(batch_size: int, resize: int | None = None, limit: int | None = None,
                            generator: torch.Generator | None = None,
                            device: str | torch.device = "cpu") -> tuple[TensorBatches, TensorBatches]:
    """Fashion-MNIST's training and test sets as in-memory minibatches ``(train_iter, test_iter)``.

    Args:
        batch_size: examples per minibatch.
        resize: the side the images are resized to (d2l's option; None keeps 28×28).
        limit: keep only the first ``limit`` examples of each split (fast mode).
        generator: the generator the training set's shuffles are drawn from.
        device: where the images are kept and the batches made.
    """
    splits = []
    for train in (True, False):
        images, labels = load_fashion_mnist_uint8(train=train)
        if limit is not None:
            images, labels = images[:limit], labels[:limit]
        splits.append(TensorBatches(images, labels, batch_size, shuffle=train,
                                    generator=generator, device=device, resize=resize))
    return splits[0], splits[1]
