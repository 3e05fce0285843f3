"""Expected calibration error and temperature scaling of skdamerge estimators."""

import math

import numpy as np
import pytest
import torch
from conftest import make_pair_shift
from scipy.optimize import minimize_scalar
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from torch import nn

from skdamerge import SourceOnlyClassifier
from skdamerge._param_validation import InvalidParameterError
from skdamerge.calibration import fitted_temperature, temperature_scaling
from skdamerge.metrics import domain_adaptation_report, expected_calibration_error

Y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
P = np.array([0.9, 0.6, 0.3, 0.2, 0.7, 0.1, 0.5, 0.8])


# ---------------------------------------------------------------------------
# Expected calibration error
# ---------------------------------------------------------------------------


def test_ece_matches_hand_computation():
    # 15 bins of width 1/15: each probability alone in its bin -> mean |y - p|
    assert expected_calibration_error(Y, P) == pytest.approx(2.9 / 8)
    # 2 bins: [0, 0.5) holds 0.3 (y=1), 0.2, 0.1: |1/3 - 0.2| * 3/8 = 0.05;
    # [0.5, 1] holds 0.9, 0.6, 0.7, 0.5, 0.8 (y = 1, 1, 0, 0, 1):
    # |3/5 - 3.5/5| * 5/8 = 0.0625.
    assert expected_calibration_error(Y, P, n_bins=2) == pytest.approx(0.1125)
    # quantile bins: edge at the median 0.55; {0.1, 0.2, 0.3, 0.5} has merger
    # fraction 1/4 and mean 0.275, {0.6, 0.7, 0.8, 0.9} has 3/4 and 0.75.
    ece = expected_calibration_error(Y, P, n_bins=2, strategy="quantile")
    assert ece == pytest.approx(0.025 * 4 / 8)
    # one bin: |mean(y) - mean(p)|
    assert expected_calibration_error(Y, P, n_bins=1) == pytest.approx(
        abs(0.5 - 4.1 / 8)
    )


def test_ece_extremes():
    y = np.array([0, 1, 0, 1])
    # a quarter of the images at p = 0.25 are mergers: perfectly calibrated
    y_quarter = np.array([1, 0, 0, 0])
    assert expected_calibration_error(y_quarter, np.full(4, 0.25)) == 0.0
    # certain and always wrong: the worst value
    assert expected_calibration_error(y, 1.0 - y) == pytest.approx(1.0)
    # certain and right; p = 1 falls in the last bin
    assert expected_calibration_error(y, y.astype(float)) == 0.0


def test_ece_is_in_the_metric_table_and_report():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] + rng.normal(size=300) > 0).astype(int)
    clf = LogisticRegression().fit(X, y)
    report = domain_adaptation_report(clf, X, y, X + 1.0, y)
    for domain, images in (("source", X), ("target", X + 1.0)):
        p = clf.predict_proba(images)[:, 1]
        assert getattr(report, domain)["ece"] == pytest.approx(
            expected_calibration_error(y, p)
        )
    assert "ECE" in report.to_markdown() and "ECE" in report.to_csv()


def test_ece_labels():
    y = np.where(Y == 1, "merger", "nonmerger")
    assert expected_calibration_error(
        y, P, pos_label="merger", n_bins=2
    ) == pytest.approx(0.1125)
    # the probability of the other class, with the other label as positive
    flipped = expected_calibration_error(y, 1 - P, pos_label="nonmerger")
    assert flipped == pytest.approx(2.9 / 8)
    assert expected_calibration_error(2 * Y - 1, P) == pytest.approx(2.9 / 8)
    with pytest.raises(ValueError, match="pos_label"):
        expected_calibration_error(y, P)
    with pytest.raises(ValueError, match="pos_label"):
        expected_calibration_error(Y + 1, P)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(n_bins=0), InvalidParameterError, "n_bins"),
        (dict(n_bins=2.5), InvalidParameterError, "n_bins"),
        (dict(strategy="equal"), InvalidParameterError, "strategy"),
        (dict(pos_label=[1]), InvalidParameterError, "pos_label"),
        (dict(y_prob=P[:-1]), ValueError, "different lengths"),
        (dict(y_prob=np.c_[1 - P, P]), ValueError, "1-D"),
        (dict(y_prob=P + 0.5), ValueError, r"\[0, 1\]"),
        (dict(y_prob=np.r_[P[:-1], np.nan]), ValueError, r"\[0, 1\]"),
        (dict(y_true=[0, 1, 2, 1, 0, 1, 0, 1]), ValueError, "binary"),
        (dict(y_true=[], y_prob=[]), ValueError, "empty"),
    ],
)
def test_ece_invalid_inputs(kwargs, error, match):
    arguments = {"y_true": Y, "y_prob": P, **kwargs}
    with pytest.raises(error, match=match):
        expected_calibration_error(**arguments)


# ---------------------------------------------------------------------------
# Temperature scaling
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def noisy_split():
    """A mildly noisy domain, so that a small network is right about 70% of the time.

    300 images to fit, 150 to calibrate on (the source validation set), 150 held
    out.
    """
    _, _, X, y = make_pair_shift(600, size=16, noise=0.1, seed=3)
    return X[:300], y[:300], X[300:450], y[300:450], X[450:], y[450:]


def _log_odds(estimator, X):
    """The logit differences of the network, from its public ``module_``."""
    module = estimator.module_.eval()
    with torch.no_grad():
        _, logits = module(torch.from_numpy(X))
    logits = logits.double().numpy()
    return logits[:, 1] - logits[:, 0]


def _scale_logits(estimator, factor):
    """Multiply the last layer, hence every logit, by ``factor``."""
    last = [m for m in estimator.module_.modules() if isinstance(m, nn.Linear)][-1]
    assert last.out_features == 2
    with torch.no_grad():
        last.weight.mul_(factor)
        last.bias.mul_(factor)


def _hand_temperature(z, y):
    """argmin over T of the mean -log sigmoid((2y - 1) z / T), by scipy."""
    sign = 2 * y - 1

    def nll(log_t):
        return np.mean(np.logaddexp(0.0, -sign * z / math.exp(log_t)))

    return math.exp(minimize_scalar(nll, bounds=(-8, 8), method="bounded").x)


@pytest.fixture(scope="module")
def overconfident(noisy_split):
    """A source-only network, and the same with logits multiplied by 5."""
    X_fit, y_fit, X_valid, y_valid, _, _ = noisy_split
    training = dict(max_epochs=10, batch_size=32, random_state=0)
    plain = SourceOnlyClassifier(**training).fit(X_fit, y_fit)
    sharp = SourceOnlyClassifier(**training).fit(X_fit, y_fit)
    _scale_logits(sharp, 5.0)
    return plain, sharp


def test_temperature_scaling_of_an_overconfident_network(noisy_split, overconfident):
    _, _, X_valid, y_valid, X_test, y_test = noisy_split
    plain, sharp = overconfident
    calibrated = temperature_scaling(sharp, X_valid, y_valid)
    assert isinstance(calibrated, CalibratedClassifierCV)
    temperature = fitted_temperature(calibrated)
    # T minimises the validation log loss of sigmoid(z / T), z the network's logits
    z_valid = _log_odds(sharp, X_valid)
    assert temperature == pytest.approx(_hand_temperature(z_valid, y_valid), rel=1e-3)
    # T > 1 for the over-confident network, and it lowers the held-out log loss
    # (measured: T = 4.2, log loss 1.18 -> 0.62 on the 150 held-out images).
    assert temperature > 1
    before = log_loss(y_test, sharp.predict_proba(X_test))
    after = log_loss(y_test, calibrated.predict_proba(X_test))
    assert after < before - 0.2
    # the calibrated probabilities are sigmoid(z / T) of the logits, to float32
    # rounding: z here comes from another forward pass than predict_proba's
    # (one channels-first batch against channels-last batches)
    z_test = _log_odds(sharp, X_test)
    expected = 1 / (1 + np.exp(-z_test / temperature))
    np.testing.assert_allclose(
        calibrated.predict_proba(X_test)[:, 1], expected, rtol=1e-5
    )
    # labels, accuracy and the ranking (AUC) are unchanged
    np.testing.assert_array_equal(calibrated.predict(X_test), sharp.predict(X_test))
    assert calibrated.score(X_test, y_test) == sharp.score(X_test, y_test)
    assert roc_auc_score(y_test, calibrated.predict_proba(X_test)[:, 1]) == (
        pytest.approx(roc_auc_score(y_test, sharp.predict_proba(X_test)[:, 1]))
    )
    # T depends on the logits only: five times sharper logits, five times T
    t_plain = fitted_temperature(temperature_scaling(plain, X_valid, y_valid))
    assert temperature == pytest.approx(5 * t_plain, rel=1e-4)


def test_temperature_scaling_keeps_target_decisions(noisy_split, overconfident):
    """A threshold t on the raw probability is sigmoid(logit(t) / T) after."""
    _, _, X_valid, y_valid, X_test, _ = noisy_split
    _, sharp = overconfident
    calibrated = temperature_scaling(sharp, X_valid, y_valid)
    temperature = fitted_temperature(calibrated)
    raw = sharp.predict_proba(X_test)[:, 1]
    scaled = calibrated.predict_proba(X_test)[:, 1]
    for threshold in np.quantile(raw, [0.2, 0.5, 0.8]):
        logit = math.log(threshold / (1 - threshold))
        mapped = 1 / (1 + math.exp(-logit / temperature))
        np.testing.assert_array_equal(raw >= threshold, scaled >= mapped * (1 - 1e-12))


def test_sklearn_idiom_gives_the_same_temperature(noisy_split, overconfident):
    _, _, X_valid, y_valid, X_test, _ = noisy_split
    _, sharp = overconfident
    direct = CalibratedClassifierCV(FrozenEstimator(sharp), method="temperature").fit(
        X_valid, y_valid
    )
    helper = temperature_scaling(sharp, X_valid, y_valid)
    assert fitted_temperature(direct) == pytest.approx(
        fitted_temperature(helper), rel=1e-6
    )
    np.testing.assert_allclose(
        direct.predict_proba(X_test), helper.predict_proba(X_test), rtol=1e-6
    )


def test_fitted_temperature_of_a_decision_function():
    """For a logistic regression, T divides its decision values (the log-odds)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    y = (X[:, 0] + rng.normal(size=400) > 0).astype(int)
    clf = LogisticRegression(C=1e4).fit(10 * X[:200], y[:200])
    calibrated = temperature_scaling(clf, 10 * X[200:], y[200:])
    temperature = fitted_temperature(calibrated)
    z = clf.decision_function(10 * X[200:])
    assert temperature == pytest.approx(_hand_temperature(z, y[200:]), rel=1e-3)
    assert temperature > 1
    np.testing.assert_allclose(
        calibrated.predict_proba(10 * X[200:])[:, 1], 1 / (1 + np.exp(-z / temperature))
    )


def test_temperature_scaling_invalid_inputs(noisy_split, overconfident):
    _, _, X_valid, y_valid, _, _ = noisy_split
    plain, _ = overconfident
    with pytest.raises(NotFittedError):
        temperature_scaling(SourceOnlyClassifier(), X_valid, y_valid)
    with pytest.raises(InvalidParameterError, match="estimator"):
        temperature_scaling("not an estimator", X_valid, y_valid)
    with pytest.raises(ValueError, match="at least two images of each class"):
        temperature_scaling(plain, X_valid, np.zeros_like(y_valid))
    with pytest.raises(ValueError, match=r"labels \[5\] that are not"):
        temperature_scaling(plain, X_valid, np.where(y_valid == 1, 5, 0))
    with pytest.raises(ValueError, match="numbers of samples"):
        temperature_scaling(plain, X_valid, y_valid[:-3])
    with pytest.raises(ValueError, match="1-D"):
        temperature_scaling(plain, X_valid, y_valid[:, None])
    with pytest.raises(ValueError, match="expects samples of shape"):
        temperature_scaling(plain, X_valid[:, :, :8, :8], y_valid)
    three = LogisticRegression().fit(np.arange(9.0)[:, None], np.arange(9) % 3)
    with pytest.raises(ValueError, match="binary"):
        temperature_scaling(three, np.arange(9.0)[:, None], np.arange(9) % 3)


def test_fitted_temperature_invalid_inputs(noisy_split, overconfident):
    _, _, X_valid, y_valid, _, _ = noisy_split
    plain, _ = overconfident
    sigmoid = CalibratedClassifierCV(FrozenEstimator(plain), method="sigmoid")
    with pytest.raises(NotFittedError):
        fitted_temperature(sigmoid)
    with pytest.raises(ValueError, match="method='temperature'"):
        fitted_temperature(sigmoid.fit(X_valid, y_valid))
    with pytest.raises(InvalidParameterError, match="calibrated"):
        fitted_temperature(plain)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] > 0).astype(int)
    per_fold = CalibratedClassifierCV(
        LogisticRegression(), method="temperature", cv=3
    ).fit(X, y)
    with pytest.raises(ValueError, match="one per fold"):
        fitted_temperature(per_fold)
