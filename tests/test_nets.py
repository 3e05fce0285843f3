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


def _trained_like(net, seed=0):
    """Give the batch normalisations statistics and scales like a trained net's."""
    generator = torch.Generator().manual_seed(seed)
    for norm in (m for m in net.modules() if isinstance(m, nn.BatchNorm2d)):
        n = norm.num_features
        norm.running_mean.copy_(torch.rand(n, generator=generator))
        norm.running_var.copy_(0.5 + torch.rand(n, generator=generator))
        norm.weight.data.copy_(0.5 + torch.rand(n, generator=generator))
        norm.bias.data.copy_(torch.rand(n, generator=generator) - 0.5)
    return net.eval()


def _in_layer_order(net, x):
    """DeepMerge's logits with every layer applied in its order."""
    return net.classifier(nn.Sequential.forward(net.features, x))


def _normalised_shapes(net, x):
    """Input shapes seen by the batch normalisations in one forward pass."""
    shapes = []
    norms = [m for m in net.features if isinstance(m, nn.BatchNorm2d)]
    hooks = [
        m.register_forward_hook(lambda m, inputs, out: shapes.append(inputs[0].shape))
        for m in norms
    ]
    try:
        net(x)
    finally:
        for hook in hooks:
            hook.remove()
    return [tuple(shape[2:]) for shape in shapes]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("autocast", [False, True])
def test_deepmerge_inference_pools_first_with_the_same_values(channels_last, autocast):
    torch.manual_seed(0)
    net = _trained_like(DeepMerge())
    x = 3 * torch.randn(64, 3, 75, 75, generator=torch.Generator().manual_seed(1))
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    bf16 = torch.autocast("cpu", torch.bfloat16, enabled=autocast)
    with torch.inference_mode(), bf16:
        fast, reference = net(x), _in_layer_order(net, x)
        # Each normalisation ran on the pooled maps (37, 18 and 9 pixels), not
        # on the convolutions' outputs (75, 37 and 18).
        assert _normalised_shapes(net, x) == [(37, 37), (18, 18), (9, 9)]
    assert torch.equal(fast, reference)  # bit for bit
    assert fast.float().std(dim=0).min() > 1e-3  # logits that differ by image


def test_resnet18_inference_pools_its_stem_first_with_the_same_values():
    torch.manual_seed(0)
    net = _trained_like(ResNet18()).to(memory_format=torch.channels_last)
    x = torch.randn(8, 3, 75, 75, generator=torch.Generator().manual_seed(3))
    x = x.contiguous(memory_format=torch.channels_last)
    stem = net.features[1]
    shapes = []
    hook = stem.register_forward_hook(lambda m, i, o: shapes.append(i[0].shape[2:]))
    with torch.inference_mode():
        fast, reference = net(x), net.classifier(nn.Sequential.forward(net.features, x))
    hook.remove()
    # The stem's normalisation ran on the max-pooled map (19 pixels), not on the
    # convolution's output (38); the second pass is the reference in layer order.
    assert [tuple(shape) for shape in shapes] == [(19, 19), (38, 38)]
    assert torch.equal(fast, reference)
    assert fast.std(dim=0).min() > 1e-5  # logits that differ by image


def test_deepmerge_keeps_the_layer_order_where_pooling_first_would_differ():
    torch.manual_seed(0)
    net = _trained_like(DeepMerge())
    x = 3 * torch.randn(32, 3, 75, 75, generator=torch.Generator().manual_seed(2))
    net.features[6].weight.data[3] = -0.7  # a negative scale turns a max into a min
    with torch.inference_mode():
        assert _normalised_shapes(net, x) == [(37, 37), (37, 37), (9, 9)]
        assert torch.equal(net(x), _in_layer_order(net, x))
    # Training and inference with gradients (Grad-CAM) run the layers in order.
    assert _normalised_shapes(net, x) == [(75, 75), (37, 37), (18, 18)]
    net.features[6].weight.data[3] = 0.7
    net.train()
    with torch.no_grad():
        assert _normalised_shapes(net, x) == [(75, 75), (37, 37), (18, 18)]


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
