"""Neural network building blocks: backbones and the domain classifier.

Every backbone follows one contract, which is also the contract for user modules:

* ``forward(x)`` returns the class **logits** of shape ``(n_samples, n_classes)``;
* the latent feature vector on which the domain-adaptation losses act (MMD, the
  domain classifier, the Fisher loss) is the output of one named submodule, the
  *feature layer*, flattened to ``(n_samples, n_features)``. The built-in backbones
  name it in their ``feature_layer`` class attribute (``"features"``); for a user
  module pass ``feature_layer="<submodule name>"`` to the estimator, or give the
  module a ``feature_layer`` attribute. A module whose ``forward`` returns a tuple
  ``(features, logits)`` needs no feature layer.

:class:`FeatureExtractor` wraps any such module so that a single forward pass
returns ``(features, logits)``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torchvision.models import resnet18

from ._batch_norm import ChannelsLastBatchNorm2d

__all__ = [
    "BACKBONES",
    "DeepMerge",
    "DomainClassifier",
    "FeatureExtractor",
    "MLPBackbone",
    "ResNet18",
    "make_backbone",
]


def _pooled_size(size: int, n_pools: int = 3) -> int:
    for _ in range(n_pools):
        size //= 2
    return size


class _ConvBlocks(nn.Sequential):
    """Convolution blocks that, in inference, pool before normalising.

    A block is a convolution, then ReLU and batch normalisation in either order,
    then max-pooling (DeepMerge's three blocks, ResNet's stem). With the
    normalisation in evaluation mode it is a per-channel affine map, increasing
    where its scale is positive; ReLU is increasing too, and an increasing
    function commutes with a maximum, also after rounding (rounding is monotone).
    So in inference (evaluation mode, no gradients) a block whose scales are all
    positive pools the convolution's output first and applies ReLU and the
    normalisation to the pooled pixels: the same values, bit for bit, with much
    less memory traffic. Training, and inference with gradients (Grad-CAM), run
    the layers in their order; so does a block with a scale of zero or below.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layers in order, or pooled first in inference (same values)."""
        if self.training or torch.is_grad_enabled():
            return super().forward(x)
        layers = list(self)
        i = 0
        while i < len(layers):
            block = layers[i : i + 4]
            if _pools_first(block):
                conv, first, second, pool = block
                x = second(first(pool(conv(x))))
                i += 4
            else:
                x = layers[i](x)
                i += 1
        return x


def _pools_first(block: list[nn.Module]) -> bool:
    """Whether a convolution block may pool before its ReLU and normalisation."""
    if len(block) != 4 or not isinstance(block[0], nn.Conv2d):
        return False
    _, first, second, pool = block
    relu, norm = (first, second) if type(first) is nn.ReLU else (second, first)
    return (
        type(relu) is nn.ReLU
        and type(norm) in (nn.BatchNorm2d, ChannelsLastBatchNorm2d)
        and type(pool) is nn.MaxPool2d
        and not pool.return_indices
        and not norm.training
        and norm.running_var is not None
        and (norm.weight is None or bool((norm.weight > 0).all()))
    )


class DeepMerge(nn.Module):
    """The DeepMerge convolutional network (paper Table A1).

    Three convolution + ReLU + batch-normalisation + max-pooling blocks (8, 16 and 32
    filters), flattened, then dense layers of 64, 32 and ``n_classes`` units with ReLU
    in between. There is no dropout, as in DeepMerge II. For 3×75×75 input and two
    classes it has 174,626 trainable parameters.

    The latent features used by the domain-adaptation losses are the flattened
    output of the convolutional part (2,592 values for 75×75 input), as in the
    paper's reference code.

    In inference (evaluation mode without gradients: ``predict_proba``, the
    target monitor, validation) each block max-pools before its ReLU and batch
    normalisation, which commute with the maximum while the normalisation's
    scales are positive: the same values bit for bit, 1.4-1.6x faster on a CPU.
    In training on a CPU, the first block's normalisation (8 channels, in the
    channels-last format) runs through the map's row matrix
    (``ChannelsLastBatchNorm2d``):
    PyTorch's own kernel has the threads contend for shared cache lines there.

    Parameters
    ----------
    in_channels : int, default=3
        Number of image bands.
    image_size : int or tuple of int, default=75
        Height and width of the input images (each at least 8 pixels).
    n_classes : int, default=2
        Number of output logits.
    dropout : float, default=0.0
        Dropout probability before the first dense layer (DeepMerge II uses none).

    References
    ----------
    .. [1] Ćiprijanović, A., Snyder, G. F., Nord, B., Peek, J. E. G. (2020).
       "DeepMerge: Classifying high-redshift merging galaxies with deep neural
       networks." Astronomy and Computing 32, 100390.
    .. [2] Ćiprijanović, A., et al. (2021). "DeepMerge II: Building robust deep
       learning algorithms for merging galaxy identification across domains."
       MNRAS 506, 677-691. Table A1.
    """

    feature_layer = "features"

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int | tuple[int, int] = 75,
        n_classes: int = 2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        height, width = (
            (image_size, image_size) if isinstance(image_size, int) else image_size
        )
        if min(height, width) < 8:
            raise ValueError(
                f"DeepMerge needs images of at least 8x8 pixels, got {height}x{width}; "
                "resize the images or use another backbone."
            )
        self.features = _ConvBlocks(
            nn.Conv2d(in_channels, 8, kernel_size=5, padding=2),
            nn.ReLU(),
            ChannelsLastBatchNorm2d(8),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            ChannelsLastBatchNorm2d(16),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            ChannelsLastBatchNorm2d(32),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        n_flat = 32 * _pooled_size(height) * _pooled_size(width)
        self.classifier = nn.Sequential(
            *([nn.Dropout(dropout)] if dropout > 0 else []),
            nn.Linear(n_flat, 64),
            nn.ReLU(),
            nn.Linear(64, 32),
            nn.ReLU(),
            nn.Linear(32, n_classes),
        )

    @property
    def last_conv(self) -> nn.Module:
        """The last convolutional layer (used for Grad-CAM)."""
        return self.features[8]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits of shape ``(n_samples, n_classes)``."""
        return self.classifier(self.features(x))


class ResNet18(nn.Module):
    """ResNet18 for small galaxy cutouts, trained from scratch.

    torchvision's ResNet18 without downloaded weights; its adaptive average pooling
    takes 75×75 input as is (the last convolutional block is 3×3). The 1000-class head
    is replaced by dropout followed by a dense layer with ``n_classes`` outputs
    (DeepMerge II Table A2 uses dropout 0.6). The latent features are the 512 pooled
    values before the dropout.

    Parameters
    ----------
    in_channels : int, default=3
        Number of image bands; the first convolution is rebuilt if not 3.
    n_classes : int, default=2
        Number of output logits.
    dropout : float, default=0.6
        Dropout probability before the last dense layer.

    References
    ----------
    .. [1] He, K., Zhang, X., Ren, S., Sun, J. (2016). "Deep residual learning for
       image recognition." CVPR, 770-778.
    """

    feature_layer = "features"

    def __init__(
        self, in_channels: int = 3, n_classes: int = 2, dropout: float = 0.6
    ) -> None:
        super().__init__()
        net = resnet18(weights=None)
        if in_channels != 3:
            net.conv1 = nn.Conv2d(
                in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False
            )
        self.features = _ConvBlocks(
            net.conv1,
            net.bn1,
            net.relu,
            net.maxpool,
            net.layer1,
            net.layer2,
            net.layer3,
            net.layer4,
            net.avgpool,
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(net.fc.in_features, n_classes)
        )

    @property
    def last_conv(self) -> nn.Module:
        """The last residual block (used for Grad-CAM)."""
        return self.features[7]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits of shape ``(n_samples, n_classes)``."""
        return self.classifier(self.features(x))


class MLPBackbone(nn.Module):
    """A small multilayer perceptron for flat feature vectors.

    For domain adaptation on tabular morphology measurements (Gini, M20,
    concentration, asymmetry, ...). Two hidden layers of ``hidden`` units with ReLU
    form the feature extractor; a dense layer gives the logits.

    Parameters
    ----------
    n_features : int
        Number of input features.
    n_classes : int, default=2
        Number of output logits.
    hidden : int, default=64
        Width of the hidden layers.
    dropout : float, default=0.0
        Dropout probability before the output layer.
    """

    feature_layer = "features"

    def __init__(
        self,
        n_features: int,
        n_classes: int = 2,
        hidden: int = 64,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Linear(n_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(hidden, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits of shape ``(n_samples, n_classes)``."""
        return self.classifier(self.features(x))


class DomainClassifier(nn.Module):
    """Domain discriminator for domain-adversarial training.

    ``n_features → hidden → hidden → 1`` dense layers with ReLU and dropout after each
    hidden layer. It returns one **logit** per sample (no sigmoid: use it with
    :func:`skdamerge.losses.domain_adversarial_loss`, a BCE with logits). Ending in a
    single unit followed by a softmax would make the output constant and the gradient
    zero; this class avoids that.

    Parameters
    ----------
    n_features : int
        Dimension of the latent features.
    hidden : int, default=1024
        Width of the two hidden layers.
    dropout : float, default=0.5
        Dropout probability after each hidden layer.

    References
    ----------
    .. [1] Ganin, Y., et al. (2016). "Domain-adversarial training of neural
       networks." JMLR 17(59), 1-35.
    """

    def __init__(
        self, n_features: int, hidden: int = 1024, dropout: float = 0.5
    ) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(n_features, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Return domain logits of shape ``(n_samples,)`` (source = positive)."""
        return self.layers(features).squeeze(-1)


class FeatureExtractor(nn.Module):
    """Wrap a backbone so that one forward pass returns ``(features, logits)``.

    Parameters
    ----------
    backbone : nn.Module
        A module following the contract in :mod:`skdamerge.nets`.
    feature_layer : str or None, default=None
        Name (as in ``backbone.named_modules()``) of the submodule whose flattened
        output is the latent feature vector. ``None`` uses ``backbone.feature_layer``
        if present; otherwise ``backbone`` must return ``(features, logits)``.
    """

    def __init__(self, backbone: nn.Module, feature_layer: str | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        if feature_layer is None:
            feature_layer = getattr(backbone, "feature_layer", None)
        self.feature_layer = feature_layer
        if feature_layer is not None:
            modules = dict(backbone.named_modules())
            if feature_layer not in modules or feature_layer == "":
                names = [name for name in modules if name][:20]
                raise ValueError(
                    f"feature_layer={feature_layer!r} is not a submodule of the "
                    f"backbone; choose one of {names}."
                )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(features, logits)`` with features flattened to 2-D."""
        if self.feature_layer is None:
            output = self.backbone(x)
            if not (isinstance(output, tuple) and len(output) == 2):
                raise TypeError(
                    "The backbone returned a single tensor but no feature layer is "
                    "known; pass feature_layer='<submodule name>' or make forward "
                    "return (features, logits)."
                )
            features, logits = output
            return features.flatten(1), logits
        captured: list[torch.Tensor] = []
        layer = self.backbone.get_submodule(self.feature_layer)
        handle = layer.register_forward_hook(
            lambda module, inputs, output: captured.append(output)
        )
        try:
            logits = self.backbone(x)
        finally:
            handle.remove()
        return captured[-1].flatten(1), logits


BACKBONES = ("deepmerge", "resnet18", "mlp")


def make_backbone(
    backbone: str | nn.Module,
    input_shape: tuple[int, ...],
    *,
    n_classes: int = 2,
    dropout: float | None = None,
) -> nn.Module:
    """Build the backbone network for inputs of a given shape.

    Parameters
    ----------
    backbone : {"auto", "deepmerge", "resnet18", "mlp"} or nn.Module
        ``"auto"`` is ``"deepmerge"`` for images ``(channels, height, width)`` and
        ``"mlp"`` for flat feature vectors. A module is deep-copied, so the
        caller's instance (and its weights, which are the starting point) is never
        modified.
    input_shape : tuple of int
        Shape of one sample: ``(channels, height, width)`` or ``(n_features,)``.
    n_classes : int, default=2
        Number of output logits.
    dropout : float or None, default=None
        Dropout before the classification head; None takes the backbone's default
        (0 for DeepMerge and the MLP, 0.6 for ResNet18 as in DeepMerge II
        Table A2). Ignored for a user module.

    Returns
    -------
    nn.Module
        A fresh, untrained backbone.
    """
    if isinstance(backbone, nn.Module):
        return copy.deepcopy(backbone)
    if not isinstance(backbone, str) or backbone not in BACKBONES + ("auto",):
        raise ValueError(
            f"backbone={backbone!r} is not supported; use one of "
            f"{('auto',) + BACKBONES} or pass a torch.nn.Module."
        )
    is_image = len(input_shape) == 3
    if backbone == "auto":
        backbone = "deepmerge" if is_image else "mlp"
    if backbone == "mlp":
        if is_image:
            raise ValueError(
                "backbone='mlp' needs flat input of shape (n_samples, n_features); "
                "use backbone='deepmerge' or 'resnet18' for images."
            )
        return MLPBackbone(input_shape[0], n_classes, dropout=dropout or 0.0)
    if not is_image:
        raise ValueError(
            f"backbone={backbone!r} needs images of shape (n_samples, channels, "
            f"height, width), got samples of shape {input_shape}; use "
            "backbone='mlp' for flat feature vectors."
        )
    channels, height, width = input_shape
    if backbone == "deepmerge":
        return DeepMerge(channels, (height, width), n_classes, dropout=dropout or 0.0)
    return ResNet18(channels, n_classes, dropout=0.6 if dropout is None else dropout)
