"""Classifiers for signal against background: data, models, losses, training, evaluation, apply, compare.

Modules in data-flow order: ``settings`` (a model's effective settings), ``data`` (events,
inputs, weights), ``models`` and ``losses`` (torch), ``train`` (the loop, ``train_model``),
``bdt`` (xgboost), ``evaluate`` (metrics), ``plots``, ``apply`` (scores Parquet), ``compare``
(table against the cut-based baseline), ``cli`` (``colliderflow train | apply | compare``);
``synthetic`` writes toy features for tests and benchmarks.
"""
