"""Objectives against hand computations, and the method registry."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import objective_batches, objective_module
from skorch.callbacks import EarlyStopping

from skdamerge import DANNClassifier, MMDClassifier, SourceOnlyClassifier
from skdamerge._engine.best_weights import BestWeights
from skdamerge._engine.net import parameter_groups
from skdamerge._engine.objectives import (
    AdversarialObjective,
    MMDObjective,
    SourceOnlyObjective,
    estimator_class,
    method_names,
    objective_class,
)
from skdamerge.losses import fisher_loss, mmd_loss


def _entropy(logits):
    return -(F.softmax(logits, 1) * F.log_softmax(logits, 1)).sum(1).mean()


def test_mmd_objective_equals_its_terms_computed_on_the_right_rows():
    objective = MMDObjective(
        transfer_weight=0.7,
        fisher_intra_weight=0.01,
        fisher_inter_weight=0.5,
        fisher_kind="difference",
        entropy_weight=0.3,
        mmd_kernels=3,
        mmd_kernel_mul=1.5,
    )
    module = objective_module(objective)
    xs, ys, xt = objective_batches()
    out = objective(module, torch.nn.CrossEntropyLoss(), xs, ys, xt, 0.5)
    with torch.no_grad():
        fs, ls = module(xs)  # source and target passed separately
        ft, lt = module(xt)
    classification = F.cross_entropy(ls, ys)
    transfer = mmd_loss(fs, ft, n_kernels=3, kernel_mul=1.5)
    fisher = fisher_loss(fs, ys, intra_weight=0.01, inter_weight=0.5, kind="difference")
    entropy = _entropy(lt)
    expected = classification + 0.7 * transfer + fisher + 0.3 * entropy
    torch.testing.assert_close(out["classification_loss"], classification)
    torch.testing.assert_close(out["transfer_loss"], transfer)
    torch.testing.assert_close(out["fisher_loss"], fisher)
    torch.testing.assert_close(out["entropy_loss"], entropy)
    torch.testing.assert_close(out["loss"], expected)
    # The terms really depend on the rows: swapping the domains changes them.
    swapped = mmd_loss(ft, fs, n_kernels=3, kernel_mul=1.5)
    assert not torch.isclose(_entropy(ls), entropy)
    assert not torch.isclose(
        fisher_loss(ft, ys, intra_weight=0.01, inter_weight=0.5, kind="difference"),
        fisher,
    )
    torch.testing.assert_close(swapped, transfer)  # MMD is symmetric


def test_adversarial_objective_equals_the_domain_cross_entropy_by_hand():
    objective = AdversarialObjective(transfer_weight=0.4, grl_schedule="constant")
    module = objective_module(objective)
    xs, ys, xt = objective_batches()
    out = objective(module, torch.nn.CrossEntropyLoss(), xs, ys, xt, 0.3)
    with torch.no_grad():
        fs, ls = module(xs)
        ft, _ = module(xt)
        zs = module.domain_classifier(fs).ravel()
        zt = module.domain_classifier(ft).ravel()
    # Domain label 1 for source, 0 for target: -log σ(z_s) and -log(1 - σ(z_t)).
    domain = F.softplus(-zs).mean() + F.softplus(zt).mean()
    torch.testing.assert_close(out["transfer_loss"], domain)
    torch.testing.assert_close(out["loss"], F.cross_entropy(ls, ys) + 0.4 * domain)
    assert out["domain_acc_source"] == pytest.approx(float((zs > 0).float().mean()))
    assert out["domain_acc_target"] == pytest.approx(float((zt <= 0).float().mean()))
    assert out["grl_coefficient"] == 1.0


def test_source_only_objective_ignores_the_target():
    objective = SourceOnlyObjective()
    module = objective_module(objective)
    xs, ys, xt = objective_batches()
    out = objective(module, torch.nn.CrossEntropyLoss(), xs, ys, xt, 0.0)
    with torch.no_grad():
        expected = F.cross_entropy(module(xs)[1], ys)
    torch.testing.assert_close(out["loss"], expected)


def test_estimator_hyperparameters_reach_the_losses_of_a_fit(monkeypatch, tiny_shift):
    Xs, ys, Xt, _ = tiny_shift
    import skdamerge._engine.objectives._adaptation as adaptation
    import skdamerge._engine.objectives.mmd as mmd

    seen = {}

    def spy_mmd(source, target, **kwargs):
        seen["mmd"] = kwargs
        return mmd_loss(source, target, **kwargs)

    def spy_fisher(features, labels, **kwargs):
        seen["fisher"] = kwargs
        return fisher_loss(features, labels, **kwargs)

    monkeypatch.setattr(mmd, "mmd_loss", spy_mmd)
    monkeypatch.setattr(adaptation, "fisher_loss", spy_fisher)
    MMDClassifier(
        mmd_kernels=3,
        mmd_kernel_mul=1.7,
        fisher_intra_weight=0.02,
        fisher_inter_weight=0.5,
        fisher_kind="difference",
        max_epochs=1,
        batch_size=32,
        random_state=0,
    ).fit(Xs, ys, X_target=Xt)
    assert seen["mmd"] == {"n_kernels": 3, "kernel_mul": 1.7}
    assert seen["fisher"] == {
        "intra_weight": 0.02,
        "inter_weight": 0.5,
        "kind": "difference",
    }


def test_registry_maps_names_to_objectives_and_estimators():
    assert method_names()[:3] == ("source-only", "mmd", "dann")
    assert estimator_class("mmd") is MMDClassifier
    assert estimator_class("dann") is DANNClassifier
    assert estimator_class("source-only") is SourceOnlyClassifier
    assert objective_class("dann") is AdversarialObjective
    with pytest.raises(ValueError, match="Unknown method 'no-such-method'.*'mmd'"):
        estimator_class("no-such-method")


def test_objective_is_built_from_the_estimator_parameters():
    clf = DANNClassifier(domain_lr_multiplier=0.01, grl_schedule="constant")
    objective = AdversarialObjective.from_params(clf.get_params())
    assert objective.domain_lr_multiplier == 0.01
    assert objective.grl_schedule == "constant"
    assert objective.lr_multipliers() == {"domain_classifier": 0.01}


def test_parameter_groups_give_each_extra_network_its_learning_rate():
    objective = AdversarialObjective(domain_lr_multiplier=0.1)
    module = objective_module(objective)
    (network, lr_network), (domain, lr_domain) = parameter_groups(
        module, objective, 1e-3
    )
    assert lr_network == 1e-3 and lr_domain == pytest.approx(1e-4)
    assert {id(p) for p in domain} == {
        id(p) for p in module.domain_classifier.parameters()
    }
    assert {id(p) for p in network} == {id(p) for p in module.extractor.parameters()}
    # Frozen parameters are left out.
    for param in module.extractor.parameters():
        param.requires_grad_(False)
    groups = parameter_groups(module, objective, 1e-3)
    assert len(groups) == 1 and groups[0][1] == pytest.approx(1e-4)


@pytest.mark.parametrize(
    "losses",
    [
        [1.0, 0.9, 0.95, 0.89995, 0.8, 0.85],
        [0.5, 0.5, 0.49999, 0.6, 0.7],
        [2.0, 1.0, 0.99995, 0.9999],
    ],
)
def test_best_weights_keep_the_epoch_early_stopping_judges_best(losses):
    """Same relative-threshold rule as skorch's EarlyStopping."""

    class Net:
        history = []

    keeper = BestWeights("valid_loss").initialize()
    stopper = EarlyStopping(monitor="valid_loss", patience=100, sink=print)
    stopper.initialize()
    net = Net()
    net.module_ = torch.nn.Linear(1, 1)
    from skorch.history import History

    net.history = History()
    stopper.on_train_begin(net)
    for epoch, loss in enumerate(losses, start=1):
        net.history.new_epoch()
        net.history.record("epoch", epoch)
        net.history.record("valid_loss", loss)
        keeper.on_epoch_end(net)
        stopper.on_epoch_end(net)
    assert keeper.epoch == stopper.best_epoch_
    expected = int(np.argmin(losses)) + 1
    assert keeper.epoch <= expected


def test_a_new_method_is_one_objective_and_one_thin_estimator(tiny_shift):
    """The path CONTRIBUTING describes: no edit to the base, loop or command."""
    from dataclasses import dataclass
    from numbers import Real
    from typing import ClassVar

    from skdamerge._engine.objectives import (
        AdaptationObjective,
        register_objective,
        unregister_method,
    )
    from skdamerge._estimators import DomainAdaptationClassifier
    from skdamerge._param_validation import Interval

    @register_objective
    @dataclass
    class MeanMatchingObjective(AdaptationObjective):
        """Squared distance between the mean source and target features."""

        mean_scale: float = 1.0

        name = "mean-matching"
        label = "MM"
        parameter_constraints: ClassVar[dict] = {
            **AdaptationObjective.parameter_constraints,
            "mean_scale": [Interval(Real, 0, None, closed="neither")],
        }

        def transfer(self, module, source, target, progress):
            gap = source.features.mean(0) - target.features.mean(0)
            return self.mean_scale * (gap**2).sum(), {}

    try:

        class MeanMatchingClassifier(
            DomainAdaptationClassifier, objective=MeanMatchingObjective
        ):
            def __init__(self, *, mean_scale=1.0, transfer_weight=1.0, **common):
                self.mean_scale = mean_scale
                self.transfer_weight = transfer_weight
                self.fisher_intra_weight = 0.0
                self.fisher_inter_weight = 1.0
                self.fisher_kind = "ratio"
                self.entropy_weight = 0.0
                for name, value in _common_defaults(common).items():
                    setattr(self, name, value)

        assert "mean-matching" in method_names()
        assert estimator_class("mean-matching") is MeanMatchingClassifier
        Xs, ys, Xt, _ = tiny_shift
        clf = MeanMatchingClassifier(max_epochs=2, batch_size=32, random_state=0)
        clf.fit(Xs, ys, X_target=Xt)
        assert clf.history_[-1, "train_transfer_loss"] > 0
        with pytest.raises(ValueError, match="'mean_scale' parameter"):
            MeanMatchingClassifier(mean_scale=0).fit(Xs, ys, X_target=Xt)
    finally:
        unregister_method("mean-matching")
    assert "mean-matching" not in method_names()


def _common_defaults(given):
    defaults = {
        name: param.default
        for name, param in __import__("inspect")
        .signature(SourceOnlyClassifier.__init__)
        .parameters.items()
        if name != "self"
    }
    return {**defaults, **given}
