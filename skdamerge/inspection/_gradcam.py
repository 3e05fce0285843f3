"""Gradient-weighted class activation maps (Grad-CAM) and their display."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .._param_validation import (
    LABEL,
    HasMethods,
    Interval,
    StrOptions,
    validate_params,
)
from .._validation import check_images, resolve_positive_class
from ._utils import AXES, new_axes

__all__ = ["GradCAMDisplay", "grad_cam"]

_STRETCHES = ("arcsinh", "log", None)


def _is_estimator(obj) -> bool:
    return not isinstance(obj, nn.Module) and hasattr(obj, "fit")


def _resolve(module_or_estimator, target_class):
    """Return ``(network, backbone, class index)``."""
    if _is_estimator(module_or_estimator):
        estimator = module_or_estimator
        check_is_fitted(estimator)
        network = getattr(estimator, "module_", None)
        if not isinstance(network, nn.Module):
            raise TypeError(
                f"{type(estimator).__name__} has no trained network (module_); "
                "grad_cam needs a fitted skdamerge estimator or a torch module."
            )
        index, _, _ = resolve_positive_class(
            np.asarray(estimator.classes_), target_class, name="target_class"
        )
    elif isinstance(module_or_estimator, nn.Module):
        network = module_or_estimator
        index = 1 if target_class is None else target_class
        if not isinstance(index, int | np.integer) or index < 0:
            raise ValueError(
                f"target_class={target_class!r} must be the column index of a logit "
                "when a torch module is given."
            )
        index = int(index)
    else:
        raise TypeError(
            "grad_cam needs a fitted skdamerge estimator or a torch.nn.Module; got "
            f"{type(module_or_estimator).__name__}."
        )
    backbone = network
    extractor = getattr(network, "extractor", None)
    if isinstance(getattr(extractor, "backbone", None), nn.Module):
        backbone = extractor.backbone
    elif isinstance(getattr(network, "backbone", None), nn.Module):
        backbone = network.backbone
    return network, backbone, index


def _find_layer(network: nn.Module, backbone: nn.Module, layer) -> nn.Module:
    if isinstance(layer, nn.Module):
        return layer
    if layer is None:
        last_conv = getattr(backbone, "last_conv", None)
        if isinstance(last_conv, nn.Module):
            return last_conv
        raise ValueError(
            f"The backbone {type(backbone).__name__} has no last_conv attribute; "
            "pass layer='<submodule name>' naming its last convolutional layer, "
            f"one of {_conv_names(backbone)}."
        )
    if not isinstance(layer, str):
        raise TypeError(
            f"layer must be None, a submodule name or a module; got {layer!r}."
        )
    for root in (backbone, network):
        modules = dict(root.named_modules())
        if layer and layer in modules:
            return modules[layer]
    raise ValueError(
        f"layer={layer!r} is not a submodule of the backbone "
        f"{type(backbone).__name__}; its convolutional layers are "
        f"{_conv_names(backbone)}."
    )


def _conv_names(module: nn.Module) -> list[str]:
    return [name for name, m in module.named_modules() if isinstance(m, nn.Conv2d)]


def _logits(output) -> torch.Tensor:
    """Class logits from a forward output: a tensor or ``(features, logits)``."""
    if isinstance(output, tuple | list):
        output = output[-1]
    if not isinstance(output, torch.Tensor) or output.ndim != 2:
        raise TypeError(
            "The network must return logits of shape (n_samples, n_classes), or a "
            "tuple (features, logits)."
        )
    return output


@validate_params(
    {
        "module_or_estimator": [nn.Module, HasMethods(["fit"])],
        "X": ["array-like"],
        "target_class": [*LABEL, None],
        "layer": [str, nn.Module, None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "normalize": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def grad_cam(
    module_or_estimator,
    X,
    target_class=None,
    layer: str | nn.Module | None = None,
    *,
    batch_size: int = 64,
    normalize: bool = True,
) -> np.ndarray:
    """Gradient-weighted class activation maps (Grad-CAM) of images.

    For each image, the gradients of the class logit ``y_m`` with respect to the
    activations ``A^l`` of a convolutional layer are averaged over the pixels of
    each feature map, ``alpha_m^l = mean_ij dy_m / dA^l_ij`` (paper eq. 12); the map
    is ``ReLU(sum_l alpha_m^l A^l)`` (eq. 13), upsampled bilinearly to the image
    size and, by default, divided by its maximum so that it lies in [0, 1].

    The network is run in evaluation mode (batch normalisation uses its running
    statistics, no dropout); the training flag of every submodule is restored
    afterwards. Gradients are taken with :func:`torch.autograd.grad` with respect
    to the activations only, so the parameters' ``.grad`` are not touched, and the
    forward hook that records the activations is removed before returning.

    Parameters
    ----------
    module_or_estimator : fitted skdamerge estimator or torch.nn.Module
        A fitted :class:`~skdamerge.SourceOnlyClassifier`,
        :class:`~skdamerge.MMDClassifier` or :class:`~skdamerge.DANNClassifier`
        (its ``module_`` is used), or a module whose forward returns logits or
        ``(features, logits)``.
    X : array-like of shape (n_samples, channels, height, width)
        Images, prepared as for the estimator's ``predict``.
    target_class : label or int, default=None
        Class whose evidence is mapped. For an estimator, a label from
        ``classes_`` (with 0/1 labels, 1 is merger and 0 non-merger); for a
        module, the column index of the logit. None is the positive class
        ``classes_[1]`` (column 1).
    layer : str, torch.nn.Module or None, default=None
        Layer whose activations are used. None takes the backbone's ``last_conv``
        (the last convolutional layer of DeepMerge, the last residual block of
        ResNet18). A string names a submodule of the backbone (as in
        ``backbone.named_modules()``), for user modules.
    batch_size : int, default=64
        Images per forward/backward pass.
    normalize : bool, default=True
        Divide each map by its maximum (maps that are zero everywhere stay zero).

    Returns
    -------
    ndarray of shape (n_samples, height, width)
        The class activation maps, float32, at the resolution of the images.

    See Also
    --------
    GradCAMDisplay : overlay the maps on the images.

    References
    ----------
    .. [1] Selvaraju, R. R., Cogswell, M., Das, A., Vedantam, R., Parikh, D.,
       Batra, D. (2017). "Grad-CAM: Visual explanations from deep networks via
       gradient-based localization." ICCV, 618-626.
    .. [2] Ćiprijanović, A., et al. (2021). "DeepMerge II: Building robust deep
       learning algorithms for merging galaxy identification across domains."
       MNRAS 506, 677-691. Section 7.2, eqs. 12-13.

    Examples
    --------
    >>> import numpy as np
    >>> from skdamerge.nets import DeepMerge
    >>> X = np.random.default_rng(0).normal(size=(4, 3, 32, 32))
    >>> grad_cam(DeepMerge(image_size=32), X, target_class=1).shape
    (4, 32, 32)
    """
    network, backbone, index = _resolve(module_or_estimator, target_class)
    target_layer = _find_layer(network, backbone, layer)
    X = check_images(X, "X")
    if X.ndim != 4:
        raise ValueError(
            f"Grad-CAM needs images of shape (n_samples, channels, height, width); "
            f"got X of shape {X.shape}."
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}.")
    parameter = next(network.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    training = {module: module.training for module in network.modules()}
    captured: list[torch.Tensor] = []

    def record(module, inputs, output):
        if not isinstance(output, torch.Tensor) or output.ndim != 4:
            raise TypeError(
                f"The Grad-CAM layer {type(module).__name__} must output feature maps "
                "of shape (n_samples, channels, height, width); pick a "
                "convolutional layer."
            )
        captured.append(output)
        # Later in-place operations (e.g. ReLU(inplace=True)) act on the copy.
        return output.clone()

    maps = []
    handle = target_layer.register_forward_hook(record)
    try:
        network.eval()
        with torch.inference_mode(False), torch.enable_grad():
            for start in range(0, len(X), batch_size):
                xb = torch.from_numpy(X[start : start + batch_size]).to(device)
                # Gradients flow to the activations even when parameters are frozen.
                xb.requires_grad_(True)
                captured.clear()
                logits = _logits(network(xb))
                if not 0 <= index < logits.shape[1]:
                    raise ValueError(
                        f"target_class index {index} is out of range for "
                        f"{logits.shape[1]} logits."
                    )
                if not captured:
                    raise ValueError(
                        f"The layer {type(target_layer).__name__} was not called in "
                        "the forward pass; pick a layer of the network."
                    )
                activations = captured[-1]
                (gradients,) = torch.autograd.grad(logits[:, index].sum(), activations)
                weights = gradients.mean(dim=(2, 3), keepdim=True)  # eq. 12
                cam = F.relu((weights * activations).sum(dim=1, keepdim=True))
                cam = F.interpolate(
                    cam, size=X.shape[2:], mode="bilinear", align_corners=False
                )
                maps.append(cam[:, 0].detach().float().cpu().numpy())
    finally:
        handle.remove()
        for module, flag in training.items():
            module.train(flag)
    cams = np.concatenate(maps).astype(np.float32, copy=False)
    if normalize:
        peak = cams.reshape(len(cams), -1).max(axis=1)
        scale = np.where(peak > 0, peak, 1.0).astype(np.float32)
        cams = cams / scale[:, None, None]
    return cams


def stretch_image(image: np.ndarray, stretch: str | None = "arcsinh") -> np.ndarray:
    """Scale one image to [0, 1] (minimum to maximum), then stretch it.

    ``"arcsinh"`` is ``arcsinh(10 x) / arcsinh(10)``, ``"log"`` is
    ``log10(1 + 1000 x) / 3``, the conventions of astropy's ``AsinhStretch`` and
    ``LogStretch``; None leaves the linear scaling.
    """
    if stretch not in _STRETCHES:
        raise ValueError(f"stretch must be one of {_STRETCHES}; got {stretch!r}.")
    image = np.asarray(image, dtype=np.float64)
    low, high = float(image.min()), float(image.max())
    x = (image - low) / (high - low) if high > low else np.zeros_like(image)
    if stretch == "arcsinh":
        return np.arcsinh(10.0 * x) / np.arcsinh(10.0)
    if stretch == "log":
        return np.log10(1.0 + 1000.0 * x) / np.log10(1001.0)
    return x


class GradCAMDisplay:
    """Grad-CAM maps overlaid on the images (DeepMerge II Figures 6 and 7).

    Create it with :meth:`from_estimator`, or directly from images and maps. Each
    image is shown with an arcsinh or logarithmic stretch (one band, or the mean of
    the bands) in the top row and with its Grad-CAM drawn over it in the bottom
    row.

    Parameters
    ----------
    images : ndarray of shape (n_samples, channels, height, width) or \
(n_samples, height, width)
        The images the maps explain.
    cams : ndarray of shape (n_samples, height, width)
        Class activation maps in [0, 1], e.g. from :func:`grad_cam`.
    target_class : label or None, default=None
        Class the maps were computed for (used in the titles).
    stretch : {"arcsinh", "log"} or None, default="arcsinh"
        Intensity stretch of the displayed images.
    channel : int or None, default=None
        Band to show; None shows the mean of the bands.

    Attributes
    ----------
    ax_ : ndarray of matplotlib Axes of shape (n_rows, n_samples)
        Image row (if ``show_image``) and overlay row.
    figure_ : matplotlib Figure
        Figure containing the axes.
    image_artists_ : list of matplotlib AxesImage
        The stretched images of the overlay row.
    cam_artists_ : list of matplotlib AxesImage
        The Grad-CAM overlays.
    display_images_ : ndarray of shape (n_samples, height, width)
        The stretched images, in [0, 1].

    See Also
    --------
    grad_cam : compute the maps.

    References
    ----------
    .. [1] Selvaraju, R. R., et al. (2017). "Grad-CAM: Visual explanations from deep
       networks via gradient-based localization." ICCV, 618-626.
    .. [2] Ćiprijanović, A., et al. (2021). "DeepMerge II." MNRAS 506, 677-691.
       Figures 6 and 7.
    """

    def __init__(
        self,
        images,
        cams,
        *,
        target_class=None,
        stretch: str | None = "arcsinh",
        channel: int | None = None,
    ) -> None:
        self.images = images
        self.cams = cams
        self.target_class = target_class
        self.stretch = stretch
        self.channel = channel

    def _display_images(self) -> np.ndarray:
        images = np.asarray(self.images, dtype=np.float64)
        if images.ndim == 4:
            images = (
                images.mean(axis=1) if self.channel is None else images[:, self.channel]
            )
        if images.ndim != 3:
            raise ValueError(
                f"images must have shape (n, channels, height, width) or (n, height, "
                f"width); got {images.shape}."
            )
        return np.stack([stretch_image(image, self.stretch) for image in images])

    def plot(
        self,
        ax=None,
        *,
        show_image: bool = True,
        alpha: float = 0.5,
        cmap: str = "jet",
        image_cmap: str = "gray",
        titles=None,
        colorbar: bool = False,
    ) -> GradCAMDisplay:
        """Draw the images and their Grad-CAM overlays.

        Parameters
        ----------
        ax : matplotlib Axes, array of Axes or None, default=None
            ``n_rows * n_samples`` axes (``n_rows`` is 2 with ``show_image``, else
            1), filled row by row; None creates a figure.
        show_image : bool, default=True
            Add a row with the images alone above the overlays.
        alpha : float, default=0.5
            Opacity of the Grad-CAM overlay.
        cmap : str, default="jet"
            Colour map of the Grad-CAM.
        image_cmap : str, default="gray"
            Colour map of the images.
        titles : list of str or None, default=None
            One title per image.
        colorbar : bool, default=False
            Add a colour bar for the Grad-CAM values.

        Returns
        -------
        GradCAMDisplay
            This display, with ``ax_``, ``figure_`` and the artists set.
        """
        cams = np.asarray(self.cams, dtype=np.float64)
        display_images = self._display_images()
        if cams.shape != display_images.shape:
            raise ValueError(
                f"cams of shape {cams.shape} do not match the images "
                f"({display_images.shape})."
            )
        n_samples = len(cams)
        if titles is not None and len(titles) != n_samples:
            raise ValueError(f"titles needs {n_samples} entries; got {len(titles)}.")
        n_rows = 2 if show_image else 1
        figure, axes = new_axes(
            ax,
            n_rows,
            n_samples,
            figsize=(2.2 * n_samples, 2.2 * n_rows),
            squeeze=False,
        )
        self.image_artists_, self.cam_artists_ = [], []
        label = "" if self.target_class is None else f" (class {self.target_class})"
        for i in range(n_samples):
            if show_image:
                axes[0, i].imshow(display_images[i], cmap=image_cmap, vmin=0, vmax=1)
            overlay_ax = axes[-1, i]
            self.image_artists_.append(
                overlay_ax.imshow(display_images[i], cmap=image_cmap, vmin=0, vmax=1)
            )
            self.cam_artists_.append(
                overlay_ax.imshow(cams[i], cmap=cmap, alpha=alpha, vmin=0, vmax=1)
            )
            if titles is not None:
                axes[0, i].set_title(titles[i])
            for a in axes[:, i]:
                a.set_xticks([])
                a.set_yticks([])
        if show_image:
            axes[0, 0].set_ylabel(f"image ({self.stretch or 'linear'})")
        axes[-1, 0].set_ylabel("Grad-CAM" + label)
        if colorbar:
            figure.colorbar(self.cam_artists_[-1], ax=list(axes[-1]), label="Grad-CAM")
        self.ax_ = axes
        self.figure_ = figure
        self.display_images_ = display_images
        return self

    @classmethod
    @validate_params(
        {
            "estimator": [nn.Module, HasMethods(["fit"])],
            "X": ["array-like"],
            "target_class": [*LABEL, None],
            "layer": [str, nn.Module, None],
            "stretch": [StrOptions({"arcsinh", "log"}), None],
            "channel": [Interval(Integral, 0, None, closed="left"), None],
            "ax": AXES,
        },
        prefer_skip_nested_validation=True,
    )
    def from_estimator(
        cls,
        estimator,
        X,
        *,
        target_class=None,
        layer: str | nn.Module | None = None,
        stretch: str | None = "arcsinh",
        channel: int | None = None,
        ax=None,
        **plot_kwargs,
    ) -> GradCAMDisplay:
        """Compute Grad-CAMs of a fitted estimator on images and draw them.

        Parameters
        ----------
        estimator : fitted skdamerge estimator or torch.nn.Module
            The classifier to explain (see :func:`grad_cam`).
        X : array-like of shape (n_samples, channels, height, width)
            A few images (each gets a column), prepared as for ``predict``.
        target_class : label or None, default=None
            Class whose evidence is mapped; None is the positive (merger) class.
        layer : str, torch.nn.Module or None, default=None
            Layer of the backbone; None is its ``last_conv``.
        stretch : {"arcsinh", "log"} or None, default="arcsinh"
            Intensity stretch of the displayed images.
        channel : int or None, default=None
            Band to show; None shows the mean of the bands.
        ax : matplotlib Axes, array of Axes or None, default=None
            Where to draw (see :meth:`plot`).
        **plot_kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        GradCAMDisplay
            The drawn display.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from skdamerge import SourceOnlyClassifier
        >>> from skdamerge.inspection import GradCAMDisplay
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> X, y = rng.normal(size=(64, 3, 16, 16)), rng.integers(0, 2, 64)
        >>> clf = SourceOnlyClassifier(max_epochs=1, random_state=0).fit(X, y)
        >>> GradCAMDisplay.from_estimator(clf, X[:3]).cams.shape
        (3, 16, 16)
        """
        X = check_images(X, "X")
        cams = grad_cam(estimator, X, target_class, layer)
        if target_class is None and hasattr(estimator, "classes_"):
            _, target_class, _ = resolve_positive_class(estimator.classes_)
        display = cls(
            X, cams, target_class=target_class, stretch=stretch, channel=channel
        )
        return display.plot(ax=ax, **plot_kwargs)
