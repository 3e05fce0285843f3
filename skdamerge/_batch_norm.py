"""Batch normalisation of channels-last maps with few channels, on the CPU.

PyTorch's CPU kernels for batch normalisation in the channels-last memory format
(``batch_norm_cpu_collect_stats_channels_last_impl`` and
``batch_norm_cpu_backward_channels_last_impl`` in
``aten/src/ATen/native/cpu/batch_norm_kernel.cpp``) split the pixels between the
threads, and each thread adds every pixel into its own row of ``C`` float sums,
next to the other threads' rows. With fewer than 16 channels (64 bytes, one
cache line) the threads' rows share cache lines, which the cores then take from
each other on every addition: DeepMerge's first block (8 channels of 75x75
pixels) took more time with two threads than with one, and about a third of a
training step (``benchmarks/RESULTS.md``).

A channels-last map of ``C`` channels is, in memory, a matrix of ``N * H * W``
rows and ``C`` columns. :class:`ChannelsLastBatchNorm2d` computes the batch
statistics in training mode from that matrix with two reductions that share
no partial sums between threads (the column sums, and the ``C x C`` matrix
product of the matrix with itself, whose diagonal holds the sums of squares)
and applies the normalisation as one multiply-add per element; the backward
pass likewise, with the closed-form gradient of batch normalisation. The
arithmetic is that of :class:`torch.nn.BatchNorm2d`, in float32 whatever the
input's precision, with the variance taken as the mean square less the squared
mean where that is well conditioned, and from the deviations from the mean (one
more pass over the map) where the mean is large against the spread; it keeps
float32's precision, which PyTorch's kernel, adding the pixels one at a time
into float32 sums, does not on large maps. Everything else (evaluation mode,
channels-first input, other devices, 16 channels or more) is
:class:`torch.nn.BatchNorm2d`'s own code, and the parameters, buffers and
state-dict keys are the same.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ChannelsLastBatchNorm2d", "update_running_statistics"]

# Fewer channels than this take the matrix path (16 floats fill a cache line;
# with 16 and 32 channels PyTorch's own kernel was as fast or faster).
FEW_CHANNELS = 16
# Where a channel's squared mean exceeds this multiple of its variance, the
# mean square less the squared mean would lose more than 10 of float32's 24
# bits: the sums then go over the deviations from the mean instead.
ILL_CONDITIONED = 2.0**10


def _rows(x: torch.Tensor) -> torch.Tensor:
    """Return the ``(N * H * W, C)`` matrix of a channels-last map (a view)."""
    return x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])


def _from_rows(rows: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Return the channels-last ``(N, C, H, W)`` map of a ``(N * H * W, C)`` matrix."""
    n, c, h, w = like.shape
    return rows.reshape(n, h, w, c).permute(0, 3, 1, 2)


class _ChannelsLastNormalisation(torch.autograd.Function):
    """Batch normalisation of a channels-last map through its row matrix."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        with torch.autocast(x.device.type, enabled=False):
            rows = _rows(x).float()
            count = rows.shape[0]
            mean = rows.sum(0) / count
            mean_square = torch.diagonal(rows.T @ rows) / count
            var = (mean_square - mean * mean).clamp_min(0)
            centre = bool((mean * mean > ILL_CONDITIONED * var).any())
            if centre:
                deviations = rows - mean
                var = torch.diagonal(deviations.T @ deviations) / count
            invstd = torch.rsqrt(var + eps)
            scale = weight.float() * invstd
            shift = bias.float() - mean * scale
            out = torch.addcmul(shift, rows, scale).to(x.dtype)
        ctx.mark_non_differentiable(mean, var)
        ctx.centre = centre
        ctx.save_for_backward(x, weight, mean, invstd)
        return _from_rows(out, x), mean, var

    @staticmethod
    def backward(ctx, grad_out, _grad_mean, _grad_var):
        x, weight, mean, invstd = ctx.saved_tensors
        with torch.autocast(x.device.type, enabled=False):
            rows = _rows(x).float()
            grads = _rows(grad_out.contiguous(memory_format=torch.channels_last))
            grads = grads.float()
            count = rows.shape[0]
            grad_bias = grads.sum(0)
            # sum over the rows of grad * (x - mean) * invstd
            if ctx.centre:
                grad_weight = torch.diagonal(grads.T @ (rows - mean)) * invstd
            else:
                grad_weight = torch.diagonal(grads.T @ rows) - mean * grad_bias
                grad_weight = grad_weight * invstd
            gain = weight.float() * invstd
            slope = -gain * invstd * grad_weight / count
            offset = gain * (mean * invstd * grad_weight - grad_bias) / count
            grad_rows = torch.addcmul(offset, rows, slope)
            grad_rows.addcmul_(grads, gain)
        grad_x = _from_rows(grad_rows.to(x.dtype), x)
        return grad_x, grad_weight.to(weight.dtype), grad_bias.to(weight.dtype), None


class ChannelsLastBatchNorm2d(nn.BatchNorm2d):
    """:class:`torch.nn.BatchNorm2d`, faster on channels-last maps of few channels.

    In training mode, on the CPU, for a channels-last input of fewer than 16
    channels with learnable scale and shift, the batch statistics and the
    normalisation are computed on the map's row matrix (see the module's
    docstring); the running statistics are updated as
    :class:`torch.nn.BatchNorm2d` updates them. Any other case runs
    :class:`torch.nn.BatchNorm2d`'s own forward pass.
    """

    def _takes_matrix_path(self, x: torch.Tensor) -> bool:
        return (
            self.training
            and self.affine
            and x.ndim == 4
            and x.device.type == "cpu"
            and x.shape[1] < FEW_CHANNELS
            and x.numel() > x.shape[1]
            and x.is_contiguous(memory_format=torch.channels_last)
            and not x.is_contiguous()
        )

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002
        """Normalise ``input`` (see the class docstring for the fast path)."""
        if not self._takes_matrix_path(input):
            return super().forward(input)
        out, mean, var = _ChannelsLastNormalisation.apply(
            input, self.weight, self.bias, self.eps
        )
        update_running_statistics(self, mean, var, input.numel() // input.shape[1])
        return out


def update_running_statistics(
    layer: nn.Module,
    mean: torch.Tensor,
    var: torch.Tensor,
    count: int | torch.Tensor,
) -> None:
    """Update a batch-norm layer's running statistics as PyTorch's layers do.

    Parameters
    ----------
    layer : nn.Module
        A batch-norm layer (:class:`torch.nn.BatchNorm2d` or a subclass); its
        ``momentum`` (None: the cumulative average) weighs the batch.
    mean, var : Tensor
        The batch's per-channel mean and biased variance.
    count : int or Tensor
        Values per channel in the batch; the running variance is unbiased.
    """
    if not layer.track_running_stats:
        return
    with torch.no_grad():
        layer.num_batches_tracked.add_(1)
        factor = (
            1.0 / float(layer.num_batches_tracked)
            if layer.momentum is None
            else layer.momentum
        )
        count = torch.as_tensor(count, dtype=var.dtype, device=var.device)
        unbiased = var * count / (count - 1).clamp(min=1)
        layer.running_mean.mul_(1 - factor).add_(factor * mean)
        layer.running_var.mul_(1 - factor).add_(factor * unbiased)
