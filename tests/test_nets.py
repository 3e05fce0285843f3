import numpy as np
import pytest
import torch
from torch import nn

from skdamerge.nets import (
    DeepMerge,
    DomainClassifier,
    FeatureExtractor,
    MLPBackbone,
    ResNet18,
    make_backbone,
)


def _n_trainable(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def test_deepmerge_matches_table_a1():
    net = DeepMerge()
    assert _n_trainable(net) == 174_626
    # (layer type, output shape, parameters) of paper Table A1, layer by layer.
    expected = [
        (nn.Conv2d, (8, 75, 75), 608),
        (nn.ReLU, (8, 75, 75), 0),
        (nn.BatchNorm2d, (8, 75, 75), 16),
        (nn.MaxPool2d, (8, 37, 37), 0),
        (nn.Conv2d, (16, 37, 37), 1168),
        (nn.ReLU, (16, 37, 37), 0),
        (nn.BatchNorm2d, (16, 37, 37), 32),
        (nn.MaxPool2d, (16, 18, 18), 0),
        (nn.Conv2d, (32, 18, 18), 4640),
        (nn.ReLU, (32, 18, 18), 0),
        (nn.BatchNorm2d, (32, 18, 18), 64),
        (nn.MaxPool2d, (32, 9, 9), 0),
        (nn.Flatten, (2592,), 0),
        (nn.Linear, (64,), 165_952),
        (nn.ReLU, (64,), 0),
        (nn.Linear, (32,), 2080),
        (nn.ReLU, (32,), 0),
        (nn.Linear, (2,), 66),
    ]
    layers = list(net.features) + list(net.classifier)
    assert len(layers) == len(expected)
    x = torch.zeros(2, 3, 75, 75)
    for layer, (kind, shape, n_params) in zip(layers, expected, strict=True):
        x = layer(x)
        assert isinstance(layer, kind)
        assert tuple(x.shape[1:]) == shape
        assert _n_trainable(layer) == n_params
    assert not any(isinstance(m, nn.Dropout) for m in net.modules())
    assert net.last_conv is net.features[8]


def test_deepmerge_other_sizes_and_dropout():
    net = DeepMerge(in_channels=1, image_size=(16, 24), dropout=0.3)
    features, logits = FeatureExtractor(net)(torch.zeros(4, 1, 16, 24))
    assert features.shape == (4, 32 * 2 * 3)
    assert logits.shape == (4, 2)
    assert isinstance(net.classifier[0], nn.Dropout) and net.classifier[0].p == 0.3
    with pytest.raises(ValueError, match="at least 8x8"):
        DeepMerge(image_size=6)


def test_resnet18_for_75px_two_classes():
    torch.manual_seed(0)
    net = ResNet18()
    features, logits = FeatureExtractor(net)(torch.zeros(2, 3, 75, 75))
    assert features.shape == (2, 512)
    assert logits.shape == (2, 2)
    dropouts = [m for m in net.modules() if isinstance(m, nn.Dropout)]
    assert [m.p for m in dropouts] == [0.6]
    assert _n_trainable(net) == 11_177_538
    # Randomly initialised (no downloaded weights): two seeds give other weights.
    torch.manual_seed(1)
    other = ResNet18()
    assert not torch.equal(net.features[0].weight, other.features[0].weight)
    five_band = ResNet18(in_channels=5)
    assert FeatureExtractor(five_band)(torch.zeros(2, 5, 75, 75))[1].shape == (2, 2)


def test_domain_classifier_architecture_and_logits():
    dc = DomainClassifier(2592)
    linears = [m for m in dc.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (2592, 1024),
        (1024, 1024),
        (1024, 1),
    ]
    assert [m.p for m in dc.modules() if isinstance(m, nn.Dropout)] == [0.5, 0.5]
    assert not any(isinstance(m, nn.Sigmoid | nn.Softmax) for m in dc.modules())
    dc.eval()
    out = dc(torch.randn(64, 2592) * 50)
    assert out.shape == (64,)
    # Raw logits: not squashed into [0, 1], and they vary with the input.
    assert out.std() > 0
    assert (out < 0).any() or (out > 1).any()


class _UserNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2)
        )
        self.head = nn.Linear(16, 2)

    def forward(self, x):
        return self.head(self.body(x).flatten(1))


class _TupleNet(_UserNet):
    def forward(self, x):
        features = self.body(x).flatten(1)
        return features, self.head(features)


def test_feature_extractor_user_module_contract():
    x = torch.randn(3, 3, 10, 10)
    net = _UserNet()
    features, logits = FeatureExtractor(net, "body")(x)
    assert features.shape == (3, 16)
    assert torch.allclose(logits, net(x))
    assert torch.allclose(features, net.body(x).flatten(1))
    assert not net.body._forward_hooks  # hook removed after the pass
    features, logits = FeatureExtractor(_TupleNet())(x)
    assert features.shape == (3, 16) and logits.shape == (3, 2)
    with pytest.raises(ValueError, match="feature_layer='nope'"):
        FeatureExtractor(net, "nope")
    with pytest.raises(TypeError, match="feature_layer"):
        FeatureExtractor(net)(x)


def test_make_backbone():
    assert isinstance(make_backbone("auto", (3, 75, 75)), DeepMerge)
    assert isinstance(make_backbone("auto", (7,)), MLPBackbone)
    assert isinstance(make_backbone("resnet18", (3, 75, 75)), ResNet18)
    user = _UserNet()
    copy = make_backbone(user, (3, 10, 10))
    assert copy is not user
    assert torch.equal(copy.head.weight, user.head.weight)
    with pytest.raises(ValueError, match="backbone='vgg'"):
        make_backbone("vgg", (3, 75, 75))
    with pytest.raises(ValueError, match="backbone='mlp'"):
        make_backbone("mlp", (3, 75, 75))
    with pytest.raises(ValueError, match="flat feature vectors"):
        make_backbone("deepmerge", (7,))
    assert np.isclose(
        make_backbone("resnet18", (3, 32, 32), dropout=0.1).classifier[0].p, 0.1
    )
