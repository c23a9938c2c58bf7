import numpy as np
import pytest
import torch

from colliderflow.analyses.hyy import synthetic
from colliderflow.ml import models
from colliderflow.ml.settings import model_settings
from colliderflow.ml.train import export_onnx, onnx_scores, predict_torch


def _inputs(n=64, n_features=5, n_objects=6, n_fields=7, seed=0):
    rng = np.random.default_rng(seed)
    features = rng.normal(3.0, 2.0, (n, n_features)).astype(np.float32)
    features[::5, 1] = np.nan  # missing values, e.g. no jets
    counts = rng.integers(0, n_objects + 1, n)
    mask = (np.arange(n_objects)[None, :] < counts[:, None]).astype(np.float32)
    objects = (rng.normal(0, 1, (n, n_objects, n_fields)) * mask[..., None]).astype(np.float32)
    return features, objects, mask


def _model(kind, inputs):
    cfg = synthetic.default_config()
    torch.manual_seed(0)
    return models.build(models.make_spec(model_settings(cfg, kind), inputs)).eval()


@pytest.mark.parametrize("kind", ["mlp", "deepsets"])
def test_onnx_scores_match_torch(kind, tmp_path):
    inputs = _inputs()
    if kind == "mlp":
        inputs = inputs[:1]
    model = _model(kind, inputs)
    export_onnx(model, inputs, tmp_path / "model.onnx")
    torch_scores = predict_torch(model, inputs, batch_size=16)
    ort_scores = onnx_scores(tmp_path / "model.onnx", inputs, model.input_names)
    assert np.all((torch_scores > 0) & (torch_scores < 1))
    np.testing.assert_allclose(ort_scores.ravel(), torch_scores, atol=1e-5)
    # a batch size other than the export's example works (dynamic axis)
    one = tuple(a[:1] for a in inputs)
    np.testing.assert_allclose(onnx_scores(tmp_path / "model.onnx", one, model.input_names), torch_scores[:1], atol=1e-5)


def test_deepsets_ignores_object_order_and_padding():
    features, objects, mask = _inputs()
    model = _model("deepsets", (features, objects, mask))
    reference = predict_torch(model, (features, objects, mask), 64)
    perm = np.random.default_rng(1).permutation(objects.shape[1])
    np.testing.assert_allclose(predict_torch(model, (features, objects[:, perm], mask[:, perm]), 64), reference, rtol=1e-5)
    junk = np.where(mask[..., None] > 0, objects, 123.0).astype(np.float32)  # padded slots hold garbage
    np.testing.assert_allclose(predict_torch(model, (features, junk, mask), 64), reference, rtol=1e-5)


def test_standardise_uses_training_statistics_and_imputes_missing():
    features = np.array([[1.0, np.nan], [3.0, 4.0], [5.0, 8.0]], dtype=np.float32)
    mean, std = models.feature_statistics(features)
    np.testing.assert_allclose(mean, [3.0, 6.0])
    scaled = models.Standardise(mean, std)(torch.from_numpy(features))
    assert torch.isfinite(scaled).all() and scaled[0, 1] == 0.0
