"""Training steps through a ``torch.compile``-d network, with an eager fallback.

The estimators' ``compile=True`` compiles the network's forward pass (and, through
AOTAutograd, its backward pass) for the training steps with
:func:`torch.compile`; validation, the target monitor and prediction stay eager.
The compiled network is an :class:`torch.nn.Module` wrapper that shares the
parameters and buffers of the fitted module, so the state dict, the kept
weights, checkpoints and model files are those of an uncompiled fit.

Compilation happens on the first step. If it fails (for example, no C++
compiler on a CPU machine), :class:`CompiledSteps` puts back the batch-norm
statistics and random-number state the failed step may have changed, clears the
gradients, warns, and the fit goes on uncompiled from that same step: the model
is then the one ``compile=False`` gives.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..exceptions import CompileFallbackWarning, NonFiniteLossError

__all__ = ["CompiledSteps"]


class CompiledSteps:
    """The network the training steps run, compiled on first use.

    Parameters
    ----------
    module : nn.Module
        The network being trained (left unchanged: the compiled wrapper shares
        its parameters and buffers).
    compile_kwargs : dict or None, default=None
        Keyword arguments of :func:`torch.compile` (e.g. ``{"dynamic": True}``).

    Attributes
    ----------
    module : nn.Module
        The network a training step should call: the compiled wrapper, or the
        plain module once compilation has failed.
    compiled : bool
        Whether the steps run compiled.
    """

    def __init__(self, module: nn.Module, compile_kwargs: dict | None = None) -> None:
        self._plain = module
        self.module: nn.Module = torch.compile(module, **(compile_kwargs or {}))
        self.compiled = True
        self._verified = False

    def run(self, step: Callable[[nn.Module], Any], optimizer) -> Any:
        """Run one training step (forward and backward) on :attr:`module`.

        The first call is the one that compiles: if it raises anything but a
        :class:`~skdamerge.exceptions.NonFiniteLossError`, the batch-norm
        buffers and the torch random state are restored, the optimizer's
        gradients cleared, a
        :class:`~skdamerge.exceptions.CompileFallbackWarning` issued, and the
        step runs again on the plain module, as every later step does.

        Parameters
        ----------
        step : callable
            ``step(module)`` computes the loss with ``module``, backpropagates
            and returns the step's result.
        optimizer : torch.optim.Optimizer
            The fit's optimizer (its gradients are cleared on a fallback).
        """
        if self._verified or not self.compiled:
            return step(self.module)
        buffers = {name: b.detach().clone() for name, b in self._plain.named_buffers()}
        rng_state = torch.get_rng_state()
        cuda_states = (
            torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        )
        try:
            result = step(self.module)
        except NonFiniteLossError:
            raise
        except Exception as error:  # noqa: BLE001 - any compiler failure falls back
            with torch.no_grad():
                for name, buffer in self._plain.named_buffers():
                    buffer.copy_(buffers[name])
            torch.set_rng_state(rng_state)
            if cuda_states is not None:
                torch.cuda.set_rng_state_all(cuda_states)
            optimizer.zero_grad()
            self.module = self._plain
            self.compiled = False
            warnings.warn(
                "torch.compile could not compile the network "
                f"({type(error).__name__}: {str(error).splitlines()[0][:200]}); "
                "training goes on without compilation, as with compile=False. "
                "On a CPU, torch.compile needs a working C++ compiler.",
                CompileFallbackWarning,
                stacklevel=2,
            )
            return step(self.module)
        self._verified = True
        return result
