"""The eight orientations of a square image: training augmentation and test-time use.

A galaxy has no preferred orientation on the sky, so a classifier's answer should
not depend on how its stamp is rotated or mirrored. The eight symmetries of the
square (four right-angle rotations, each with or without a mirror flip) change no
pixel value and need no interpolation. :class:`RandomOrientation` turns each image
of a training batch to one of them at random, on the fly (no copies of the data
set in memory); the estimators' ``predict_proba(X, tta=True)`` averages the
probabilities over all eight (test-time augmentation).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "N_ORIENTATIONS",
    "RandomOrientation",
    "augments_images",
    "check_square_images",
    "orient",
]

N_ORIENTATIONS = 8


def orient(images: torch.Tensor, k: int) -> torch.Tensor:
    """Return the images in orientation ``k`` (0 is unchanged).

    Parameters
    ----------
    images : Tensor of shape (n, channels, height, width)
        Square images.
    k : int in [0, 8)
        ``k % 4`` quarter turns counter-clockwise, then a left-right mirror flip
        when ``k >= 4``.
    """
    out = torch.rot90(images, k % 4, dims=(-2, -1)) if k % 4 else images
    return torch.flip(out, dims=(-1,)) if k >= 4 else out


class RandomOrientation:
    """Turn each image of a batch to one of the eight orientations at random.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the orientations, so that a seed fixes them.
    rank, world_size : int, default=0 and 1
        Data-parallel training, where each batch is this rank's contiguous share
        of a global batch ``world_size`` times larger: the orientations are drawn
        for the global batch (the same draws on every rank) and this rank's share
        is used, so that the global batch is turned as in a single process.
    """

    def __init__(
        self, rng: np.random.Generator, rank: int = 0, world_size: int = 1
    ) -> None:
        self.rng = rng
        self.rank = rank
        self.world_size = world_size

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Return a new batch with each image in a random orientation."""
        n = len(images)
        choice = self.rng.integers(0, N_ORIENTATIONS, n * self.world_size)
        choice = choice[self.rank * n : (self.rank + 1) * n]
        out = torch.empty_like(images)
        for k in np.unique(choice):
            rows = torch.from_numpy(np.flatnonzero(choice == k)).to(images.device)
            out[rows] = orient(images[rows], int(k))
        return out


def check_square_images(input_shape: tuple[int, ...], what: str) -> None:
    """Refuse orientation changes for flat features or non-square images."""
    if len(input_shape) != 3 or input_shape[1] != input_shape[2]:
        raise ValueError(
            f"{what} turns images by right angles and needs square images "
            f"(n, channels, size, size); the samples here have shape "
            f"{tuple(input_shape)}. Crop them square "
            "(skdamerge.preprocessing.CenterCrop) or leave it off."
        )


def augments_images(augment: bool | str, input_shape: tuple[int, ...]) -> bool:
    """Whether training turns the images: ``augment``, "auto" for square images.

    Raises
    ------
    ValueError
        If ``augment`` is True and the samples are not square images.
    """
    if augment == "auto":
        return len(input_shape) == 3 and input_shape[1] == input_shape[2]
    if augment:
        check_square_images(input_shape, "augment=True")
    return bool(augment)
