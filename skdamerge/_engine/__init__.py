"""The private training engine behind the estimators.

- :mod:`.objectives`: one objective per method (its losses, extra networks,
  learning-rate multipliers, hyperparameter constraints, history records and
  diagnostics) and the registry that maps method names to objectives and
  estimators.
- :mod:`.module`: the trained network (feature extractor + a method's extras).
- :mod:`.net`: the skorch net whose steps see a source and a target batch, and
  its callbacks.
- :mod:`.batches`: source/target batch pairs and plain batches.
- :mod:`.history_keys`: the names of the history records.
- :mod:`.target_monitor`: per-epoch watch of the target predictions.
- :mod:`.checkpoint`, :mod:`.precision`, :mod:`.inference`,
  :mod:`.validation_split`: resumable checkpoints, mixed precision, batched
  prediction and the validation split.
"""
