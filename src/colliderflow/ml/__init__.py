"""Classifiers for signal against background: data, models, losses, training, evaluation, apply, compare.

Modules in data-flow order: ``kinds`` (a model kind is a registered module: what it defines,
loading it by name), ``settings`` (a model's effective settings, the baseline), ``data``
(events, inputs, weights, the signal and background of the analysis's observable); the
built-in kinds, one module each with its schema piece beside it: ``cutbased`` (the selection
itself, score 1), ``bdt`` (xgboost), ``mlp``, ``deepsets``, ``transformer``, ``graph``, ``cnn`` (torch, on the
shared ``network`` loop and ONNX export, ``models`` building blocks, ``losses``); ``train``
(``train_model`` for any kind), ``evaluate`` (metrics), ``plots``, ``apply`` (scores
Parquet), ``compare`` (table against ``ml.baseline``), ``cli`` (``colliderflow train | apply
| compare``).
"""
