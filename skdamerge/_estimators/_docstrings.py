"""Parameter and attribute documentation shared by the estimators' docstrings.

An estimator's docstring writes ``%(common)s``, ``%(adaptation)s`` and
``%(attributes)s`` where these blocks go; :func:`fill_docstring` substitutes them.
"""

from __future__ import annotations

__all__ = ["fill_docstring"]

_COMMON_PARAMETERS = """\
backbone : {"auto", "deepmerge", "resnet18", "mlp"} or torch.nn.Module, \
default="auto"
        Network to train. ``"auto"`` is the DeepMerge CNN (paper Table A1) for images
        ``(n, channels, height, width)`` and a small MLP for flat features
        ``(n, n_features)``. A user module must return class logits from ``forward``
        and name its feature layer (see :mod:`skdamerge.nets`); it is deep-copied and
        its weights are the starting point.
    feature_layer : str or None, default=None
        Name of the submodule of a user ``backbone`` whose flattened output is the
        latent feature vector used by the domain-adaptation losses and by
        :meth:`transform`. None uses the backbone's own ``feature_layer``.
    dropout : float or None, default=None
        Dropout before the classification head; None is the backbone's default
        (none for DeepMerge, 0.6 for ResNet18 as in Table A2).
    max_epochs : int, default=100
        Maximum number of passes over the source training set.
    batch_size : int, default=128
        Source images per step; each step also takes as many target images.
    lr : float, default=1e-3
        Maximum learning rate of Adam; the cyclic schedule goes down to ``lr / 10``.
    betas : tuple of float, default=(0.7, 0.8)
        Adam's coefficients for the running averages (Table A2).
    eps : float, default=1e-8
        Adam's epsilon (Table A2).
    weight_decay : float, default=0.01 (source only) or 1e-4 (MMD, DANN)
        L2 penalty of Adam (the Table A2 DeepMerge value of each method).
    cycle_length : float or None, default=8
        Length in epochs of one triangular "one-cycle" learning-rate cycle, linear
        from ``lr / 10`` up to ``lr`` and back (Smith & Topin 2019). None or 0 keeps
        the learning rate constant.
    patience : int or None, default=20
        Early stopping: epochs without improvement of the source validation loss
        before training stops. The model with the best validation loss is kept.
        None or 0 trains for ``max_epochs`` epochs.
    validation_fraction : float or None, default=0.125
        Fraction of the source training data held out (stratified) for validation
        and early stopping. The default makes the paper's 70/10/20 split when
        ``X`` holds 80% of the source data. None or 0 uses no validation set.
    augment : bool or "auto", default="auto" (MMD, Deep CORAL, MDD, CDAN, SHOT)
        Turn every training image, source and target, to a random one of the
        eight orientations of the square (right-angle rotations, with or without
        a mirror flip), drawn anew at each step: a galaxy has no preferred
        orientation. Nothing is copied in memory. True needs square images;
        ``"auto"`` turns square images and leaves flat features and other
        shapes as they are. ``predict_proba(X, tta=True)`` averages over the
        eight orientations. On the built-in simulator it steadied the target
        ranking of MMD, Deep CORAL, MDD, CDAN and SHOT over seeds (hence their
        default; the other estimators default to False); see
        :ref:`orientation_augmentation`.
    init_weights : estimator, path or None, default=None
        Transfer learning: start from the backbone weights of a fitted skdamerge
        estimator or of a file written by :meth:`save_weights`. All layers are
        trainable unless ``freeze_features=True``.
    freeze_features : bool, default=False
        Keep the feature extractor (every parameter the latent features depend on,
        e.g. the convolutional layers) fixed and train only the head.
    checkpoint_path : str, path-like or None, default=None
        File to which the whole training state (weights, optimizer, history, best
        model) is written at the end of every epoch, replaced atomically, so that
        a long run can be resumed after a crash.
    resume_from : str, path-like or None, default=None
        Checkpoint written by an earlier fit with ``checkpoint_path``: training
        continues from it up to ``max_epochs`` epochs in all. The checkpoint must
        come from the same estimator, backbone, sample shape and classes (a clear
        error says otherwise). Resumed training is equivalent but not bit-identical
        to an uninterrupted run (the batch order restarts).
    callbacks : list of (str, skorch.callbacks.Callback) or None, default=None
        Extra skorch callbacks for the training loop (progress display, logging to
        an experiment tracker, ...), added after the built-in ones (scores, early
        stopping, learning-rate schedule).
    random_state : int, RandomState instance or None, default=None
        Fixes the validation split, the weight initialisation, dropout and the batch
        order. Two fits on the CPU with the same integer give identical models.
    device : {"auto", "cpu", "cuda"} or str, default="auto"
        Torch device; ``"auto"`` takes CUDA when available.
    precision : {"fp32", "bf16", "amp", "fp16"}, default="fp32"
        Arithmetic of training and prediction. ``"bf16"``: bfloat16 autocast on
        the CPU (fast on CPUs with AVX512-BF16 or AMX instructions, emulated and
        slow on others) or on a GPU with bf16 support. ``"amp"`` (alias
        ``"fp16"``): CUDA automatic mixed precision, float16 autocast with gradient
        scaling; CUDA only. In both, the losses are computed in float32 and the
        weights stay float32; target accuracy is unchanged within seed noise.
    data_parallel : bool, default=False
        Train data-parallel over the processes of an initialised
        ``torch.distributed`` process group (a script launched with
        ``torchrun`` that calls :func:`skdamerge.distributed.init_from_torchrun`),
        one process per GPU or CPU worker, every process calling ``fit`` with
        the same data. Each process trains on its share of every batch of
        ``batch_size`` images (which must be divisible by the number of
        processes), through PyTorch's ``DistributedDataParallel``, with batch
        statistics and losses computed over the whole batch: the result is
        that of one process with the same ``batch_size``, up to rounding. Every
        process ends with the same fitted model; only rank 0 writes
        checkpoints. SHOTClassifier refuses it. See :ref:`data_parallel`.
    verbose : int, default=0
        0 is silent; 1 prints a table of the losses and scores per epoch."""

_ADAPTATION_PARAMETERS = """\
transfer_weight : float, default=1.0
        Weight λ_TL of the transfer loss (paper eq. 2).
    fisher_intra_weight : float, default=0.0
        Weight λ_w of the within-class scatter in the Fisher loss (Sect. 2.2); 0
        disables the Fisher loss. Table A2's "+ Fisher + entropy" runs use 0.01
        (MMD) and 1e-4 (adversarial).
    fisher_inter_weight : float, default=1.0
        Weight λ_b of the between-class scatter in the Fisher loss.
    fisher_kind : {"ratio", "difference"}, default="ratio"
        Fisher trace ratio tr(S_w)/tr(S_b) (the paper's choice) or trace difference.
    entropy_weight : float, default=0.0
        Weight λ_EM of entropy minimisation on the target predictions (eq. 11);
        0 disables it. Table A2 uses 0.05 (MMD) and 1e-4 (adversarial)."""

_FITTED_ATTRIBUTES = """\
Attributes
    ----------
    classes_ : ndarray of shape (2,)
        Class labels; ``classes_[1]`` is the positive class (merger for 0/1 labels)
        and the second column of :meth:`predict_proba`.
    n_features_in_ : int
        Number of channels (images) or features (flat input).
    input_shape_ : tuple of int
        Shape of one training sample.
    n_target_samples_ : int
        Number of target images used in training (0 without a target domain, and
        always 0 for :class:`SourceOnlyClassifier`).
    history_ : skorch.History
        Per-epoch records: ``train_loss`` (total loss), each loss component
        (``train_classification_loss``, ``train_transfer_loss``,
        ``train_fisher_loss``, ``train_entropy_loss``), for DANN the domain
        classifier's accuracies ``train_domain_acc_source``/``_target`` and
        ``train_grl_coefficient``, the learning rate ``lr``, the source validation
        metrics ``valid_loss``, ``valid_acc``, ``valid_auc``, and ``dur``. With
        a target domain also ``target_merger_fraction`` and
        ``target_mean_proba`` (predicted on a fixed sample of the target
        images), ``target_collapsed`` and ``valid_selection_loss`` (the
        validation loss that early stopping monitors, +1000 in a collapsed
        epoch).
        ``history_[:, "valid_acc"]`` gives a column.
    n_epochs_ : int
        Number of epochs trained (fewer than ``max_epochs`` after early stopping).
    best_epoch_ : int
        Epoch (1-based) whose weights the model holds: the one early stopping
        restored (the best source validation loss, collapsed target epochs
        excluded while a healthy one exists), or the last epoch without
        validation.
    source_merger_fraction_ : float
        Fraction of the positive class (merger) in the source training labels.
    validation_index_ : ndarray or None
        Rows of ``X`` held out for validation (None with ``validation_data`` or
        without a validation set).
    target_class_fractions_ : ndarray of shape (2,)
        Fractions of the watched target images (up to 1,024 of the training
        target) that the kept model predicts in ``classes_[0]`` and
        ``classes_[1]``. Only with a target domain.
    target_collapse_ : TargetCollapse
        Verdict on the kept model's target predictions (``state`` is
        ``"healthy"``, ``"drifted"`` or ``"collapsed"``; drifted includes a
        predicted merger fraction more than 0.2 from a trusted
        ``target_merger_fraction_``); a
        :class:`~skdamerge.exceptions.TargetCollapseWarning` is raised unless it
        is healthy. Only with a target domain.
    target_merger_fraction_ : MergerFractionEstimate or None
        Label-free estimate of the target's merger fraction with its
        uncertainty and a verdict on its trust
        (:func:`skdamerge.metrics.estimate_merger_fraction`): labelled source
        validation images injected into the target's sky calibrate the model's
        rates on target-like images. None without image input, without a
        validation set, or for on-disk (out-of-core) arrays. Only with a target
        domain.
    target_threshold_ : float or None
        Merger-probability threshold at which the watched target images'
        predicted merger fraction equals the trusted estimate; used by
        ``predict(X, domain="target")``. None when the estimate is missing or
        not trusted.
    net_ : DomainAdaptationNet
        The underlying skorch net.
    module_ : torch.nn.Module
        The trained network; ``module_(x)`` returns ``(features, logits)``."""


def fill_docstring(cls: type) -> type:
    """Substitute the shared blocks into ``cls.__doc__`` (a class decorator)."""
    cls.__doc__ = (
        cls.__doc__.replace("%(common)s", _COMMON_PARAMETERS)
        .replace("%(adaptation)s", _ADAPTATION_PARAMETERS)
        .replace("%(attributes)s", _FITTED_ATTRIBUTES)
    )
    return cls
