"""Tests of skdamerge.inspection: the drawn data, not only that drawing works."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from conftest import make_pair_shift  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    accuracy_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from torch import nn  # noqa: E402

from skdamerge import DANNClassifier, MMDClassifier, SourceOnlyClassifier  # noqa: E402
from skdamerge.inspection import (  # noqa: E402
    DomainRocDisplay,
    GradCAMDisplay,
    LatentSpaceDisplay,
    MetricBarsDisplay,
    ScoreHistogramDisplay,
    TrainingHistoryDisplay,
    grad_cam,
    initial_features,
    method_color,
)
from skdamerge.inspection._colors import (  # noqa: E402
    DOMAIN_ALPHA,
    MERGER,
    METHOD_COLORS,
    NON_MERGER,
    UNLABELLED,
)
from skdamerge.inspection._gradcam import stretch_image  # noqa: E402
from skdamerge.metrics import expected_calibration_error  # noqa: E402
from skdamerge.nets import DeepMerge, ResNet18  # noqa: E402

FAST = dict(batch_size=32, random_state=0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # These networks are tiny: on cores shared with other processes, a second
    # torch thread mostly spin-waits and can make training many times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_blobs(n, size=24, seed=0):
    """Noise images; class 1 adds one bright blob at a random position."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    centres = rng.integers(4, size - 4, (n, 2))
    grid_y, grid_x = np.mgrid[:size, :size]
    blob = np.exp(
        -(
            (grid_x - centres[:, 1, None, None]) ** 2
            + (grid_y - centres[:, 0, None, None]) ** 2
        )
        / (2 * 1.5**2)
    )
    X = (
        rng.normal(0, 0.3, (n, 3, size, size))
        + 3 * y[:, None, None, None] * blob[:, None]
    )
    return X.astype(np.float32), y, centres


@pytest.fixture(scope="module")
def blob_model():
    X, y, _ = make_blobs(320, seed=0)
    return SourceOnlyClassifier(max_epochs=5, validation_fraction=None, **FAST).fit(
        X, y
    )


@pytest.fixture(scope="module")
def shift():
    return make_pair_shift(100, size=16, seed=3)


@pytest.fixture(scope="module")
def dann(shift):
    Xs, ys, Xt, _ = shift
    return DANNClassifier(max_epochs=3, **FAST).fit(Xs, ys, X_target=Xt)


@pytest.fixture(scope="module")
def source_only(shift):
    Xs, ys, _, _ = shift
    return SourceOnlyClassifier(max_epochs=3, **FAST).fit(Xs, ys)


def _rgba(color):
    return np.asarray(mcolors.to_rgba(color))


def _all_hooks_removed(module):
    return all(
        not m._forward_hooks
        and not m._forward_pre_hooks
        and not m._backward_hooks
        and not getattr(m, "_backward_pre_hooks", {})
        for m in module.modules()
    )


# ---------------------------------------------------------------------------
# Grad-CAM
# ---------------------------------------------------------------------------


def test_grad_cam_peaks_on_the_blob(blob_model):
    X, y, centres = make_blobs(80, seed=1)
    mergers = y == 1
    cams = grad_cam(blob_model, X[mergers], target_class=1)
    assert cams.shape == (mergers.sum(), 24, 24)
    peaks = np.array([np.unravel_index(cam.argmax(), cam.shape) for cam in cams])
    distance = np.abs(peaks - centres[mergers]).max(axis=1)
    # One cell of the 6x6 last convolutional layer is 4 pixels.
    assert np.mean(distance <= 4) >= 0.8, distance
    assert np.median(distance) <= 3, distance


def test_grad_cam_values_in_unit_interval(blob_model):
    X, _, _ = make_blobs(10, seed=2)
    cams = grad_cam(blob_model, X)
    assert cams.dtype == np.float32
    assert cams.min() >= 0 and cams.max() <= 1
    peak = cams.reshape(len(cams), -1).max(axis=1)
    assert np.all((peak == 0) | np.isclose(peak, 1))
    raw = grad_cam(blob_model, X, normalize=False)
    np.testing.assert_allclose(
        cams,
        raw / np.where(peak > 0, raw.reshape(10, -1).max(1), 1)[:, None, None],
        rtol=1e-5,
    )


class _TinyConvNet(nn.Module):
    """Conv layer then a dense layer: the gradient of logit c w.r.t. A is W[c]."""

    def __init__(self, size=6):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, kernel_size=3, padding=1)
        self.head = nn.Linear(2 * size * size, 2)

    def forward(self, x):
        return self.head(self.conv(x).flatten(1))


def test_grad_cam_equals_paper_equations_12_13():
    torch.manual_seed(0)
    net = _TinyConvNet()
    X = np.random.default_rng(0).normal(size=(4, 3, 6, 6)).astype(np.float32)
    for target in (0, 1):
        cams = grad_cam(net, X, target_class=target, layer="conv", normalize=False)
        with torch.no_grad():
            A = net.conv(torch.from_numpy(X)).numpy()  # (n, 2, 6, 6)
        gradient = net.head.weight[target].detach().numpy().reshape(2, 6, 6)
        alpha = gradient.mean(axis=(1, 2))  # eq. 12
        expected = np.maximum((alpha[None, :, None, None] * A).sum(axis=1), 0)  # eq. 13
        np.testing.assert_allclose(cams, expected, rtol=1e-4, atol=1e-6)


def test_grad_cam_leaves_module_hooks_mode_and_grads(blob_model):
    X, _, _ = make_blobs(6, seed=3)
    module = blob_model.module_
    last_conv = module.extractor.backbone.last_conv
    saved = {name: p.grad for name, p in module.named_parameters()}
    before = {name: None if g is None else g.clone() for name, g in saved.items()}
    last_conv.weight.grad = torch.full_like(last_conv.weight, 7.0)
    last_conv.bias.grad = None
    try:
        for training in (True, False):
            module.train(training)
            grad_cam(blob_model, X)
            assert _all_hooks_removed(module)
            assert all(m.training is training for m in module.modules())
        torch.testing.assert_close(
            last_conv.weight.grad, torch.full_like(last_conv.weight, 7.0)
        )
        assert last_conv.bias.grad is None
        for name, param in module.named_parameters():
            if param is last_conv.weight or param is last_conv.bias:
                continue
            if before[name] is None:
                assert param.grad is None, name
            else:
                torch.testing.assert_close(param.grad, before[name])
    finally:
        for name, param in module.named_parameters():
            param.grad = saved[name]
        module.eval()


def test_grad_cam_hooks_removed_after_error():
    net = _TinyConvNet()
    with pytest.raises(ValueError, match="out of range"):
        grad_cam(net, np.zeros((2, 3, 6, 6)), target_class=5, layer="conv")
    assert _all_hooks_removed(net)


def test_grad_cam_resnet18_and_frozen_features():
    X, y, _ = make_blobs(40, size=32, seed=4)
    clf = SourceOnlyClassifier(
        backbone="resnet18", max_epochs=1, validation_fraction=None, **FAST
    ).fit(X, y)
    cams = grad_cam(clf, X[:5])
    assert cams.shape == (5, 32, 32)
    assert np.all(np.isfinite(cams)) and cams.min() >= 0
    # each map is scaled to a peak of 1 (or is all zero)
    peak = cams.reshape(len(cams), -1).max(axis=1)
    assert np.all((peak == 0) | np.isclose(peak, 1))
    assert _all_hooks_removed(clf.module_)
    # A bare module: the last residual block by default, any named layer on request.
    net = ResNet18()
    assert grad_cam(net, X[:2]).shape == (2, 32, 32)
    assert grad_cam(net, X[:2], layer="features.6").shape == (2, 32, 32)
    # Gradients reach the activations even when every parameter is frozen.
    frozen = DeepMerge(image_size=32).requires_grad_(False)
    assert grad_cam(frozen, X[:3]).shape == (3, 32, 32)


def test_grad_cam_layer_and_class_errors(blob_model):
    X = np.zeros((2, 3, 6, 6), dtype=np.float32)
    with pytest.raises(ValueError, match="last_conv.*layer="):
        grad_cam(_TinyConvNet(), X)
    with pytest.raises(ValueError, match="not a submodule.*'conv'"):
        grad_cam(_TinyConvNet(), X, layer="nope")
    with pytest.raises(TypeError, match="feature maps"):
        grad_cam(_TinyConvNet(), X, layer="head")
    with pytest.raises(ValueError, match="not one of the estimator's classes"):
        grad_cam(blob_model, np.zeros((2, 3, 24, 24)), target_class=3)
    with pytest.raises(NotFittedError):
        grad_cam(SourceOnlyClassifier(), X)
    with pytest.raises(ValueError, match="images"):
        grad_cam(_TinyConvNet(), np.zeros((2, 5)), layer="conv")


def test_grad_cam_display_draws_the_maps(blob_model):
    X, y, _ = make_blobs(12, seed=5)
    X = X[y == 1][:3]
    display = GradCAMDisplay.from_estimator(blob_model, X, stretch="log")
    expected = grad_cam(blob_model, X, target_class=1)
    np.testing.assert_allclose(display.cams, expected)
    assert display.ax_.shape == (2, 3)
    assert display.target_class == 1
    for i, artist in enumerate(display.cam_artists_):
        np.testing.assert_allclose(artist.get_array(), expected[i])
        assert artist.get_alpha() == 0.5
        np.testing.assert_allclose(
            display.image_artists_[i].get_array(),
            stretch_image(X[i].mean(axis=0), "log"),
            rtol=1e-5,
        )
    single = GradCAMDisplay(X[:1], expected[:1], stretch=None, channel=2).plot(
        show_image=False
    )
    assert single.ax_.shape == (1, 1)
    np.testing.assert_allclose(single.display_images_[0], stretch_image(X[0, 2], None))


def test_stretch_image():
    image = np.array([[0.0, 1.0], [2.0, 4.0]])
    x = image / 4
    np.testing.assert_allclose(stretch_image(image, None), x)
    np.testing.assert_allclose(
        stretch_image(image, "arcsinh"), np.arcsinh(10 * x) / np.arcsinh(10)
    )
    np.testing.assert_allclose(
        stretch_image(image, "log"), np.log10(1 + 1000 * x) / np.log10(1001)
    )
    with pytest.raises(ValueError, match="stretch"):
        stretch_image(image, "sqrt")


# ---------------------------------------------------------------------------
# Latent space
# ---------------------------------------------------------------------------


def _check_scatter(collection, points, color, alpha):
    np.testing.assert_allclose(collection.get_offsets(), points, rtol=1e-6)
    facecolors = collection.get_facecolors()
    np.testing.assert_allclose(facecolors[:, :3], [_rgba(color)[:3]] * len(facecolors))
    np.testing.assert_allclose(facecolors[:, 3], alpha)


def test_latent_pca_coordinates_colours_and_alphas(dann, shift):
    Xs, ys, Xt, yt = shift
    Xs, ys, Xt, yt = Xs[:60], ys[:60], Xt[:40], yt[:40]
    display = LatentSpaceDisplay.from_estimator(
        dann, Xs, Xt, ys, yt, method="pca", random_state=0
    )
    features = np.concatenate([dann.transform(Xs), dann.transform(Xt)])
    expected = PCA(n_components=2, random_state=0).fit_transform(
        features.astype(np.float64)
    )
    np.testing.assert_allclose(display.embedding, expected, rtol=1e-5, atol=1e-6)
    assert sum(len(c.get_offsets()) for c in display.scatters_.values()) == 100
    blocks = {"source": (expected[:60], ys), "target": (expected[60:], yt)}
    for domain, (points, labels) in blocks.items():
        for label, name, color in (
            (1, "merger", MERGER),
            (0, "non-merger", NON_MERGER),
        ):
            _check_scatter(
                display.scatters_[(domain, name)],
                points[labels == label],
                color,
                DOMAIN_ALPHA[domain],
            )
    assert DOMAIN_ALPHA["source"] < DOMAIN_ALPHA["target"] == 1.0
    assert display.ax_.get_xlabel() == "PCA 1"


def test_latent_tsne_one_point_per_input_unlabelled_target(dann, shift):
    Xs, ys, Xt, _ = shift
    display = LatentSpaceDisplay.from_estimator(
        dann,
        Xs[:25],
        Xt[:20],
        ys[:25],
        random_state=0,
        embedding_kwargs={"max_iter": 250},
    )
    assert display.embedding.shape == (45, 2)
    assert set(display.scatters_) == {
        ("source", "merger"),
        ("source", "non-merger"),
        ("target", "unlabelled"),
    }
    _check_scatter(
        display.scatters_[("target", "unlabelled")],
        display.embedding[25:],
        UNLABELLED,
        1.0,
    )
    n_points = sum(len(c.get_offsets()) for c in display.scatters_.values())
    assert n_points == 45
    assert display.ax_.get_xlabel() == "t-SNE 1"


def test_latent_unfitted_estimator_shows_initial_state(shift, dann):
    Xs, ys, Xt, yt = shift
    estimator = MMDClassifier(random_state=0)
    display = LatentSpaceDisplay.from_estimator(
        estimator, Xs[:30], Xt[:30], ys[:30], yt[:30], method="pca"
    )
    assert display.embedding.shape == (60, 2)
    assert not hasattr(estimator, "net_")  # the estimator is left unfitted
    first = initial_features(estimator, Xs[:10])
    assert first.shape == (10, 128)
    np.testing.assert_array_equal(first, initial_features(estimator, Xs[:10]))
    other = initial_features(MMDClassifier(random_state=1), Xs[:10])
    assert not np.allclose(first, other)
    assert not np.allclose(first, dann.transform(Xs[:10]))


def test_latent_from_features_pos_label_and_errors():
    rng = np.random.default_rng(0)
    fs, ft = rng.normal(size=(8, 5)), rng.normal(size=(6, 5))
    ys = np.array(["a", "b"] * 4)
    display = LatentSpaceDisplay.from_features(
        fs, ft, ys, None, method="pca", pos_label="a"
    )
    _check_scatter(
        display.scatters_[("source", "merger")],
        display.embedding[:8][ys == "a"],
        MERGER,
        DOMAIN_ALPHA["source"],
    )
    with pytest.raises(ValueError, match="method"):
        LatentSpaceDisplay.from_features(fs, ft, method="umap")
    with pytest.raises(ValueError, match="labels"):
        LatentSpaceDisplay.from_features(fs, ft, ys[:3], method="pca")


# ---------------------------------------------------------------------------
# Score histograms
# ---------------------------------------------------------------------------


def _heights(container):
    return np.array([patch.get_height() for patch in container.patches])


def test_score_histogram_counts(dann, shift):
    Xs, ys, Xt, yt = shift
    display = ScoreHistogramDisplay.from_estimator(
        dann, Xs, ys, Xt, yt, bins=10, name="ADA"
    )
    assert len(display.ax_) == 2
    for domain, X, y in (("source", Xs, ys), ("target", Xt, yt)):
        score = dann.predict_proba(X)[:, 1]
        merger, _ = np.histogram(score[y == 1], bins=10, range=(0, 1))
        non_merger, _ = np.histogram(1 - score[y == 0], bins=10, range=(0, 1))
        np.testing.assert_array_equal(
            _heights(display.bars_[(domain, "merger")]), merger
        )
        np.testing.assert_array_equal(
            _heights(display.bars_[(domain, "non-merger")]), non_merger
        )
        assert _rgba(display.bars_[(domain, "merger")].patches[0].get_facecolor())[
            :3
        ] == pytest.approx(_rgba(MERGER)[:3])
    assert display.ax_[1].get_title() == "ADA: target"


def test_score_histogram_from_predictions_labels_and_density():
    y = np.array(["m", "n", "m", "n", "m"])
    score = np.array([0.9, 0.2, 0.45, 0.7, 1.0])
    display = ScoreHistogramDisplay.from_predictions(y, score, pos_label="m", bins=4)
    assert len(display.ax_) == 1
    np.testing.assert_array_equal(
        _heights(display.bars_[("source", "merger")]), [0, 1, 0, 2]
    )
    np.testing.assert_array_equal(
        _heights(display.bars_[("source", "non-merger")]), [0, 1, 0, 1]
    )
    dense = ScoreHistogramDisplay.from_predictions(
        y, score, pos_label="m", density=True
    )
    heights = _heights(dense.bars_[("source", "merger")])
    assert np.sum(heights * np.diff(dense.bin_edges_)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="both"):
        ScoreHistogramDisplay.from_predictions(y, score, y_target=y)
    with pytest.raises(ValueError, match="probabilities"):
        ScoreHistogramDisplay.from_predictions(y, score + 1, pos_label="m")


# ---------------------------------------------------------------------------
# Metric bars and ROC curves
# ---------------------------------------------------------------------------


def test_metric_bars_equal_sklearn_metrics(dann, source_only, shift):
    Xs, ys, Xt, yt = shift
    models = {"noDA": source_only, "ADA": dann}
    display = MetricBarsDisplay.from_estimators(models, Xs, ys, Xt, yt)
    assert set(display.bars_) == {
        (model, domain) for model in models for domain in ("source", "target")
    }
    for name, estimator in models.items():
        for domain, X, y in (("source", Xs, ys), ("target", Xt, yt)):
            pred = estimator.predict(X)
            score = estimator.predict_proba(X)[:, 1]
            expected = [
                accuracy_score(y, pred),
                precision_score(y, pred, zero_division=0),
                recall_score(y, pred, zero_division=0),
                f1_score(y, pred, zero_division=0),
                brier_score_loss(y, score),
                expected_calibration_error(y, score),
                roc_auc_score(y, score),
            ]
            bars = display.bars_[(name, domain)]
            np.testing.assert_allclose(_heights(bars), expected, rtol=1e-12)
            patch = bars.patches[0]
            assert _rgba(patch.get_edgecolor())[:3] == pytest.approx(
                _rgba(METHOD_COLORS[name])[:3]
            )
            if domain == "source":
                assert patch.get_hatch() == "//"
                assert patch.get_linestyle() == "--"
                assert patch.get_facecolor()[3] == 0  # unfilled
            else:
                assert not patch.get_hatch()
                assert patch.get_linestyle() == "-"
                assert _rgba(patch.get_facecolor()) == pytest.approx(
                    _rgba(METHOD_COLORS[name])
                )
    labels = [t.get_text() for t in display.ax_.get_xticklabels()]
    assert labels == [
        "Accuracy",
        "Precision",
        "Recall",
        "F1 score",
        "Brier score",
        "ECE",
        "AUC",
    ]


def test_metric_bars_show_the_metric_table(dann, shift):
    from skdamerge.inspection import METRICS, binary_metrics
    from skdamerge.metrics import domain_adaptation_report, metric_table

    Xs, ys, Xt, yt = shift
    display = MetricBarsDisplay.from_estimators({"ADA": dann}, Xs, ys, Xt, yt)
    report = domain_adaptation_report(dann, Xs, ys, Xt, yt)
    for domain in ("source", "target"):
        expected = [getattr(report, domain)[name] for name in METRICS]
        np.testing.assert_array_equal(
            _heights(display.bars_[("ADA", domain)]), expected
        )
    score = dann.predict_proba(Xt)[:, 1]
    table = metric_table(yt, score, threshold=0.3)
    assert binary_metrics(yt, score, threshold=0.3) == {m: table[m] for m in METRICS}
    assert list(binary_metrics(yt, score)) == list(METRICS)
    with pytest.raises(ValueError, match="pos_label=7"):
        binary_metrics(yt, score, pos_label=7)


def test_metric_bars_from_metrics_and_errors(dann):
    source = {
        "MMD": {"accuracy": 0.9, "auc": 0.95},
        "mine": {"accuracy": 0.8, "auc": 0.7},
    }
    target = {
        "MMD": {"accuracy": 0.7, "auc": 0.8},
        "mine": {"accuracy": 0.5, "auc": 0.6},
    }
    fig, ax = plt.subplots()
    display = MetricBarsDisplay.from_metrics(
        source, target, metrics=["accuracy", "auc"], ax=ax
    )
    assert display.ax_ is ax
    np.testing.assert_allclose(_heights(display.bars_[("mine", "target")]), [0.5, 0.6])
    np.testing.assert_allclose(_heights(display.bars_[("MMD", "source")]), [0.9, 0.95])
    assert method_color("MMD") == METHOD_COLORS["MMD"]
    assert method_color("DANN") == METHOD_COLORS["ADA"]
    assert method_color("mine", 0) not in METHOD_COLORS.values()
    with pytest.raises(ValueError, match="no value"):
        MetricBarsDisplay.from_metrics(source, metrics=["f1"])
    with pytest.raises(NotFittedError):
        MetricBarsDisplay.from_estimators({"x": MMDClassifier()}, None, None)
    with pytest.raises(TypeError, match="mapping"):
        MetricBarsDisplay.from_estimators([dann], None, None)


def test_domain_roc_lines_for_both_domains(dann, source_only, shift):
    Xs, ys, Xt, yt = shift
    models = {"noDA": source_only, "ADA": dann}
    display = DomainRocDisplay.from_estimators(models, Xs, ys, Xt, yt)
    assert set(display.lines_) == {
        (model, domain) for model in models for domain in ("source", "target")
    }
    for (name, domain), line in display.lines_.items():
        X, y = (Xs, ys) if domain == "source" else (Xt, yt)
        score = models[name].predict_proba(X)[:, 1]
        fpr, tpr, _ = roc_curve(y, score)
        np.testing.assert_allclose(line.get_xdata(), fpr)
        np.testing.assert_allclose(line.get_ydata(), tpr)
        assert line.get_linestyle() == ("--" if domain == "source" else "-")
        assert _rgba(line.get_color()) == pytest.approx(_rgba(METHOD_COLORS[name]))
        auc = roc_auc_score(y, score)
        assert line.get_label() == f"{name} ({domain}) (AUC = {auc:.2f})"
    assert display.chance_level_ is not None
    # The same from precomputed scores, source only.
    scores = {name: est.predict_proba(Xs)[:, 1] for name, est in models.items()}
    only_source = DomainRocDisplay.from_predictions(ys, scores)
    assert set(only_source.lines_) == {("noDA", "source"), ("ADA", "source")}
    np.testing.assert_allclose(
        only_source.lines_[("ADA", "source")].get_ydata(),
        display.lines_[("ADA", "source")].get_ydata(),
    )


# ---------------------------------------------------------------------------
# Training history
# ---------------------------------------------------------------------------


def test_history_lines_equal_history_columns(dann):
    display = TrainingHistoryDisplay.from_estimator(dann)
    history = dann.history_
    assert display.panels_ == [
        "total loss",
        "classification loss",
        "transfer loss",
        "domain classifier",
        "learning rate",
        "validation metrics",
    ]
    expected_keys = {
        "train_loss",
        "train_classification_loss",
        "valid_loss",
        "train_transfer_loss",
        "train_domain_acc_source",
        "train_domain_acc_target",
        "train_grl_coefficient",
        "lr",
        "valid_acc",
        "valid_auc",
    }
    assert set(display.lines_) == expected_keys  # Fisher and entropy are disabled
    epochs = history[:, "epoch"]
    for key, line in display.lines_.items():
        np.testing.assert_allclose(line.get_xdata(), epochs)
        np.testing.assert_allclose(line.get_ydata(), history[:, key])
    assert len(display.ax_) == 6
    best = [
        ln for ln in display.ax_[0].get_lines() if ln not in display.lines_.values()
    ]
    assert best and best[0].get_xdata()[0] == dann.best_epoch_

    full = TrainingHistoryDisplay.from_estimator(dann, show_disabled=True)
    assert {"Fisher loss", "entropy loss"} <= set(full.panels_)
    np.testing.assert_allclose(
        full.lines_["train_fisher_loss"].get_ydata(), history[:, "train_fisher_loss"]
    )


def test_history_source_only_and_plain_list(source_only):
    display = TrainingHistoryDisplay.from_estimator(source_only)
    assert "domain classifier" not in display.panels_
    assert "transfer loss" not in display.panels_
    rows = [{"epoch": 1, "train_loss": 2.0, "lr": 0.1}, {"epoch": 2, "train_loss": 1.0}]
    plain = TrainingHistoryDisplay.from_history(rows)
    assert plain.panels_ == ["total loss", "learning rate"]
    np.testing.assert_array_equal(plain.lines_["lr"].get_ydata(), [0.1, np.nan])
    with pytest.raises(NotFittedError):
        TrainingHistoryDisplay.from_estimator(MMDClassifier())


def test_domain_roc_from_predictions_with_several_models():
    from skdamerge.inspection import DomainRocDisplay

    rng = np.random.default_rng(0)
    ys, yt = np.tile([0, 1], 6), np.tile([0, 1], 4)
    scores_s = {"noDA": rng.random(12), "MMD": rng.random(12)}
    scores_t = {"noDA": rng.random(8), "MMD": rng.random(8)}
    display = DomainRocDisplay.from_predictions(ys, scores_s, yt, scores_t)
    assert set(display.lines_) == {
        (model, domain) for model in scores_s for domain in ("source", "target")
    }
    with pytest.raises(ValueError, match="has 7 scores but y_target has 8 labels"):
        DomainRocDisplay.from_predictions(
            ys, scores_s, yt, {"noDA": rng.random(7), "MMD": rng.random(8)}
        )
