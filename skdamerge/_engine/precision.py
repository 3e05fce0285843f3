"""Numerical precision of training and inference: fp32, bf16 autocast, fp16 AMP.

The estimators' ``precision`` argument is resolved once per fit into a
:class:`Precision`, which the training loop and prediction use:

* ``"fp32"``: plain float32, no autocast (the default);
* ``"bf16"``: ``torch.autocast(<device>, dtype=torch.bfloat16)`` on the CPU or a CUDA
  GPU with bf16 support. Convolutions and dense layers run in bfloat16; the losses
  (MMD, Fisher, entropy, cross-entropy, domain BCE) are computed in float32 on
  float32 copies of the features and logits (see
  :mod:`skdamerge._engine.objectives`), and the weights and the optimizer state
  stay float32. bfloat16 has the range of float32, so no loss scaling is needed;
* ``"amp"`` (alias ``"fp16"``): CUDA automatic mixed precision, float16 autocast with
  a :class:`torch.amp.GradScaler` that scales the loss before the backward pass and
  unscales the gradients before the optimizer step.

The device-independent parts (autocast context, gradient scaler, the optimizer step
through the scaler) take the device type as data, so the same code path runs with a
CPU float16 policy in the test suite; only the device differs on a GPU.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "BF16_CPU_FEATURES",
    "PRECISIONS",
    "Precision",
    "cpu_capabilities",
    "cpu_supports_bf16",
    "resolve_precision",
]

PRECISIONS = ("fp32", "bf16", "amp", "fp16")


#: CPU features that give native bfloat16 arithmetic, as named by
#: :func:`torch.cpu.get_capabilities`.
BF16_CPU_FEATURES = ("avx512_bf16", "amx_tile")


def cpu_capabilities() -> Mapping[str, Any]:
    """Return the CPU features that torch detected, by name.

    Returns
    -------
    mapping of str to bool or int
        ``{"avx512_bf16": True, "amx_tile": False, ...}``, from
        :func:`torch.cpu.get_capabilities`. With a torch release that predates it,
        only the features of :data:`BF16_CPU_FEATURES`, from the per-feature checks
        that such releases have.
    """
    get_capabilities = getattr(torch.cpu, "get_capabilities", None)
    if get_capabilities is not None:
        return get_capabilities()
    # Older torch releases expose the two features only through private helpers
    # (torch.cpu._is_avx512_bf16_supported, torch.cpu._is_amx_tile_supported);
    # this is the one place that reads them, and only where the public call is
    # missing.
    features = {}
    for feature in BF16_CPU_FEATURES:
        check = getattr(torch.cpu, f"_is_{feature}_supported", None)
        features[feature] = check is not None and bool(check())
    return features


def cpu_supports_bf16() -> bool:
    """Return whether this CPU has native bfloat16 instructions (AVX512-BF16 or AMX).

    Returns
    -------
    bool
        True when :func:`cpu_capabilities` reports one of :data:`BF16_CPU_FEATURES`.
    """
    capabilities = cpu_capabilities()
    return any(bool(capabilities.get(feature, False)) for feature in BF16_CPU_FEATURES)


@dataclass(frozen=True)
class Precision:
    """How one fitted model computes: autocast dtype and gradient scaling.

    Parameters
    ----------
    name : str
        The ``precision`` argument it was resolved from.
    device_type : str
        ``"cpu"`` or ``"cuda"``: the autocast and gradient-scaler device.
    dtype : torch.dtype or None
        Autocast dtype, or None for plain float32.
    scale_gradients : bool
        Whether the loss is scaled with a :class:`torch.amp.GradScaler` (float16).
    """

    name: str = "fp32"
    device_type: str = "cpu"
    dtype: torch.dtype | None = None
    scale_gradients: bool = False

    def autocast(self) -> contextlib.AbstractContextManager:
        """Context in which the network's forward pass runs."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def make_grad_scaler(self) -> torch.amp.GradScaler | None:
        """Return a new gradient scaler for float16 training, None otherwise."""
        if not self.scale_gradients:
            return None
        return torch.amp.GradScaler(self.device_type)


def resolve_precision(precision: str, device: str | torch.device) -> Precision:
    """Validate ``precision`` for ``device`` and return the policy.

    Parameters
    ----------
    precision : {"fp32", "bf16", "amp", "fp16"}
        The estimator argument.
    device : str or torch.device
        The resolved device (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...).

    Returns
    -------
    Precision

    Raises
    ------
    ValueError
        For an unknown value, float16 on a device without CUDA, or bf16 on a GPU
        without bf16 support.
    """
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ValueError(
            f"precision={precision!r} is not supported; use one of {PRECISIONS}: "
            "'fp32' (default), 'bf16' (bfloat16 autocast, CPU or GPU), 'amp' or "
            "'fp16' (float16 mixed precision with gradient scaling, CUDA only)."
        )
    device_type = torch.device(device).type
    if precision == "fp32":
        return Precision("fp32", device_type)
    if precision in ("amp", "fp16"):
        if device_type != "cuda":
            raise ValueError(
                f"precision={precision!r} (float16 mixed precision) needs a CUDA "
                f"device, but the estimator runs on device={str(device)!r}; use "
                "precision='bf16' on a CPU, or device='cuda'."
            )
        return Precision(precision, device_type, torch.float16, scale_gradients=True)
    # bf16
    if device_type == "cuda":
        if not torch.cuda.is_bf16_supported():
            raise ValueError(
                "precision='bf16' needs a GPU with bfloat16 support; this one has "
                "none. Use precision='amp' (float16 with gradient scaling)."
            )
    elif device_type == "cpu":
        if not cpu_supports_bf16():
            warnings.warn(
                "precision='bf16' on a CPU without bfloat16 instructions "
                "(AVX512-BF16 or AMX) is emulated and usually slower than 'fp32'.",
                UserWarning,
                stacklevel=3,
            )
    else:
        raise ValueError(
            f"precision='bf16' is supported on 'cpu' and 'cuda' devices, got "
            f"device={str(device)!r}; use precision='fp32'."
        )
    return Precision("bf16", device_type, torch.bfloat16)
