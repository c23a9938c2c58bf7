"""Classifiers for signal against background: data, models, losses, training, evaluation, apply, compare.

Modules in data-flow order: ``kinds`` (the model types and where their code is), ``settings``
(a model's effective settings, the baseline), ``data`` (events, inputs, weights, the signal
and background of the analysis's observable), the types' code: ``cutbased`` (the selection
itself, score 1), ``bdt`` (xgboost), ``network`` (torch ``models`` and ``losses``); ``train``
(``train_model`` for any type, the torch loop), ``evaluate`` (metrics), ``plots``, ``apply``
(scores Parquet), ``compare`` (table against ``ml.baseline``), ``cli`` (``colliderflow train |
apply | compare``); ``synthetic`` writes toy features for tests and benchmarks.
"""
