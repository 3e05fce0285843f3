"""Batch normalisation of channels-last maps with few channels."""

import numpy as np
import pytest
import torch
from torch import nn

from skdamerge._batch_norm import ChannelsLastBatchNorm2d
from skdamerge.nets import DeepMerge


def _layers(n_channels, seed=0, momentum=0.1):
    generator = torch.Generator().manual_seed(seed)
    reference = nn.BatchNorm2d(n_channels, momentum=momentum)
    with torch.no_grad():
        reference.weight.uniform_(0.5, 1.5, generator=generator)
        reference.bias.normal_(generator=generator)
    layer = ChannelsLastBatchNorm2d(n_channels, momentum=momentum)
    layer.load_state_dict(reference.state_dict())
    return reference, layer


def _map(n_channels, seed=0, offset=1.0, scale=2.0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(6, n_channels, 9, 7, generator=generator) * scale + offset
    return x.relu().contiguous(memory_format=torch.channels_last)


def _train_step(layer, x, grad, dtype=torch.float32):
    x = x.detach().clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype != torch.float32):
        out = layer(x if dtype == torch.float32 else x.to(dtype))
    out.backward(grad.to(out.dtype))
    return out, x.grad


def test_training_pass_is_batch_norm_by_hand():
    _, layer = _layers(3)
    x = _map(3)
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    out, grad_x = _train_step(layer, x, grad)

    # Batch normalisation written out in float64 over the (N * H * W, C) rows.
    rows = x.permute(0, 2, 3, 1).reshape(-1, 3).double().numpy()
    g = grad.permute(0, 2, 3, 1).reshape(-1, 3).double().numpy()
    w = layer.weight.detach().double().numpy()
    m = rows.shape[0]
    mean = rows.mean(0)
    var = ((rows - mean) ** 2).mean(0)
    xhat = (rows - mean) / np.sqrt(var + layer.eps)
    expected = xhat * w + layer.bias.detach().double().numpy()
    expected_grad = (
        w / np.sqrt(var + layer.eps) * (g - g.mean(0) - xhat * (g * xhat).mean(0))
    )
    got = out.detach().permute(0, 2, 3, 1).reshape(-1, 3).double().numpy()
    got_grad = grad_x.permute(0, 2, 3, 1).reshape(-1, 3).double().numpy()
    np.testing.assert_allclose(got, expected, atol=2e-5)
    np.testing.assert_allclose(got_grad, expected_grad, atol=2e-5)
    np.testing.assert_allclose(layer.weight.grad.double(), (g * xhat).sum(0), rtol=1e-4)
    np.testing.assert_allclose(layer.bias.grad.double(), g.sum(0), rtol=1e-4)
    np.testing.assert_allclose(layer.running_mean.double(), 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(
        layer.running_var.double(), 0.9 + 0.1 * var * m / (m - 1), rtol=1e-5
    )
    assert int(layer.num_batches_tracked) == 1


def _parameter_gradients_by_hand(x, grad, dtype, eps):
    """Gradients of the scale and shift in float64, from the inputs as rounded."""
    rows = x.to(dtype).double().permute(0, 2, 3, 1).reshape(-1, x.shape[1])
    g = grad.to(dtype).double().permute(0, 2, 3, 1).reshape(-1, x.shape[1])
    xhat = (rows - rows.mean(0)) / torch.sqrt(rows.var(0, unbiased=False) + eps)
    return (g * xhat).sum(0), g.sum(0)


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_training_pass_agrees_with_torch_batch_norm(dtype, momentum):
    reference, layer = _layers(8, momentum=momentum)
    for step in range(3):
        x = _map(8, seed=step)
        grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(10 + step))
        expected, expected_grad = _train_step(reference, x, grad, dtype)
        layer.zero_grad()
        out, grad_x = _train_step(layer, x, grad, dtype)
        assert out.dtype == expected.dtype == dtype
        assert out.stride() == expected.stride()
        # float32: rounding; bfloat16: a step of its 8-bit significand.
        tolerance = (
            {"atol": 1e-5, "rtol": 1e-5}
            if dtype == torch.float32
            else {"atol": 2**-5, "rtol": 2**-7}
        )
        torch.testing.assert_close(out, expected, **tolerance)
        torch.testing.assert_close(grad_x, expected_grad, **tolerance)
        grad_weight, grad_bias = _parameter_gradients_by_hand(x, grad, dtype, layer.eps)
        torch.testing.assert_close(
            layer.weight.grad.double(), grad_weight, rtol=1e-5, atol=1e-4
        )
        torch.testing.assert_close(
            layer.bias.grad.double(), grad_bias, rtol=1e-5, atol=1e-4
        )
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(layer.state_dict()[name], value, msg=name)


def test_a_large_mean_against_the_spread_keeps_the_variance_exact():
    # Mean 3,000 and standard deviation 1: the mean square less the squared
    # mean would lose the variance in float32 rounding.
    _, layer = _layers(2)
    x = _map(2, offset=3000.0, scale=1.0)
    rows = x.permute(0, 2, 3, 1).reshape(-1, 2).double()
    mean_square_less_mean = (rows.float() ** 2).mean(0) - rows.float().mean(0) ** 2
    true_var = rows.var(0, unbiased=False)
    assert not torch.allclose(mean_square_less_mean.double(), true_var, rtol=0.05)
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    out, _ = _train_step(layer, x, grad)
    expected = (rows - rows.mean(0)) / torch.sqrt(true_var + layer.eps)
    expected = expected * layer.weight.detach().double() + layer.bias.detach().double()
    got = out.detach().permute(0, 2, 3, 1).reshape(-1, 2).double()
    torch.testing.assert_close(got, expected, atol=1e-2, rtol=0)


@pytest.mark.parametrize(
    "case", ["evaluation", "channels_first", "sixteen_channels", "no_scale_and_shift"]
)
def test_other_cases_run_torch_batch_norm_itself(case):
    n_channels = 16 if case == "sixteen_channels" else 8
    reference, layer = _layers(n_channels)
    x = _map(n_channels)
    if case == "channels_first":
        x = x.contiguous()
    if case == "evaluation":
        reference.eval()
        layer.eval()
    if case == "no_scale_and_shift":
        reference = nn.BatchNorm2d(n_channels, affine=False)
        layer = ChannelsLastBatchNorm2d(n_channels, affine=False)
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    expected, expected_grad = _train_step(reference, x, grad)
    out, grad_x = _train_step(layer, x, grad)
    assert torch.equal(out, expected)
    assert torch.equal(grad_x, expected_grad)


def test_deepmerge_normalises_its_first_block_through_the_layer():
    net = DeepMerge().to(memory_format=torch.channels_last)
    norms = [m for m in net.features if isinstance(m, nn.BatchNorm2d)]
    assert [type(m) for m in norms] == [ChannelsLastBatchNorm2d] * 3
    assert [m.num_features for m in norms] == [8, 16, 32]
    # The first block's 8 channels take the matrix path in training.
    x = torch.rand(4, 3, 75, 75).contiguous(memory_format=torch.channels_last)
    first_map = net.features[1](net.features[0](x))
    assert norms[0]._takes_matrix_path(first_map)
    assert not norms[1]._takes_matrix_path(torch.rand(4, 16, 37, 37))


def test_statistics_of_a_large_map_are_float32_exact():
    # 1.4 million values per channel, as in DeepMerge's first block on a batch of
    # 256: against a float64 computation the matrix path keeps float32's
    # precision (PyTorch's channels-last kernel sums the pixels one by one into
    # float32 and was off by 4e-4 relative here).
    generator = torch.Generator().manual_seed(0)
    conv = nn.Conv2d(3, 8, 5, padding=2)
    x = torch.randn(64, 3, 75, 75, generator=generator)
    with torch.no_grad():
        h = torch.relu(conv(x)).contiguous(memory_format=torch.channels_last)
    grad = torch.randn(h.shape, generator=generator) * 0.01
    grad = grad.contiguous(memory_format=torch.channels_last)
    results = []
    for layer, dtype in (
        (nn.BatchNorm2d(8), torch.float64),
        (ChannelsLastBatchNorm2d(8), torch.float32),
    ):
        layer = layer.to(dtype)
        inputs = h.to(dtype).contiguous(memory_format=torch.channels_last)
        out, grad_x = _train_step(layer, inputs, grad.to(dtype))
        results.append(
            (out.detach().double(), grad_x.double(), layer.weight.grad.double())
        )
    for got, expected in zip(results[1], results[0], strict=True):
        assert float((got - expected).norm() / expected.norm()) < 1e-5
