"""The torch kinds: ONNX parity (the torch.export-based exporter against onnxruntime),
invariance of the set models under object order and padding, the standardisation."""

import numpy as np
import pandas as pd
import pytest
import torch

from colliderflow.analyses.hyy import synthetic
from colliderflow.ml import cnn, data, deepsets, graph, kinds, mlp, models, transformer
from colliderflow.ml.losses import make_loss
from colliderflow.ml.apply import onnx_predictor
from colliderflow.ml.network import _Batches, export_onnx, fit, integrated_gradients, path_attributions, predict_torch
from colliderflow.ml.settings import model_settings

KINDS = {"mlp": mlp.EventMLP, "deepsets": deepsets.DeepSets, "transformer": transformer.ObjectTransformer,
         "graph": graph.ObjectGraph, "cnn": cnn.EventCNN}
TINY = {"transformer": {"embed_dim": 8, "heads": 2, "layers": 1, "feedforward": 16, "head_hidden": [8]},
        "deepsets": {"phi_hidden": [8], "latent": 8, "rho_hidden": [8]}, "mlp": {"hidden": [8, 8]},
        "graph": {"convolutions": [8], "head_hidden": [8]},
        "cnn": {"pixels_eta": 8, "pixels_phi": 8, "channels": [4], "head_hidden": [8]}}


def _inputs(n=64, n_features=5, n_objects=6, n_fields=7, seed=0):
    rng = np.random.default_rng(seed)
    features = rng.normal(3.0, 2.0, (n, n_features)).astype(np.float32)
    features[::5, 1] = np.nan  # missing values, e.g. no jets
    counts = rng.integers(0, n_objects + 1, n)
    counts[0] = 0  # an event without objects
    mask = (np.arange(n_objects)[None, :] < counts[:, None]).astype(np.float32)
    objects = (rng.normal(0, 1, (n, n_objects, n_fields)) * mask[..., None]).astype(np.float32)
    return features, objects, mask


def _model(kind, inputs, n_outputs=1, **overrides):
    cfg = synthetic.default_config({**TINY, "models": {"m": {"type": kind, **overrides}}})
    torch.manual_seed(0)
    module = kinds.load(kind)
    model = KINDS[kind](**module.spec(model_settings(cfg, "m"), inputs[:len(module.INPUTS)]), n_outputs=n_outputs)
    if overrides.get("batch_norm"):  # statistics other than the initial ones, as after training
        model.train()
        model(*(torch.from_numpy(a) for a in inputs[:1]))
    return model.eval()


PARITY = [("mlp", {"activation": name}) for name in ("relu", "leaky_relu", "elu", "mish", "silu")] + [
    ("mlp", {"batch_norm": True}), ("deepsets", {"pooling": "sum"}), ("deepsets", {"pooling": "mean"}),
    ("deepsets", {"pooling": "max"}), ("deepsets", {"type_embedding": 3}), ("transformer", {}),
    ("graph", {"edges": "radius", "aggregation": "mean"})]  # graph knn and cnn: tests/unit/test_ml_graph_cnn.py


@pytest.mark.parametrize("kind, overrides", PARITY, ids=[f"{k}-{'-'.join(map(str, o.values()))}" for k, o in PARITY])
def test_onnx_scores_match_torch(kind, overrides, tmp_path):
    inputs = _inputs()[:len(kinds.load(kind).INPUTS)]
    model = _model(kind, inputs, **overrides)
    export_onnx(model, inputs, tmp_path / "model.onnx")
    torch_scores = predict_torch(model, inputs, batch_size=16)
    ort_scores = onnx_predictor(tmp_path / "model.onnx", 7)(inputs)
    assert np.all((torch_scores > 0) & (torch_scores < 1))
    print(f"{kind} {overrides}: ONNX max |diff| {np.max(np.abs(ort_scores - torch_scores)):.2e}")
    np.testing.assert_allclose(ort_scores.ravel(), torch_scores, atol=1e-5)
    # a batch size other than the export's example works (dynamic axis)
    one = tuple(a[:1] for a in inputs)
    np.testing.assert_allclose(onnx_predictor(tmp_path / "model.onnx", 7)(one), torch_scores[:1], atol=1e-5)


@pytest.mark.parametrize("kind", ["mlp", "deepsets", "transformer"])
def test_multiclass_onnx_probabilities_match_torch(kind, tmp_path):
    """n_outputs = 4: the softmax class probabilities, (events, 4), exported and checked as the score is."""
    inputs = _inputs()[:len(kinds.load(kind).INPUTS)]
    model = _model(kind, inputs, n_outputs=4)
    export_onnx(model, inputs, tmp_path / "model.onnx")
    torch_scores = predict_torch(model, inputs, batch_size=16)
    assert torch_scores.shape == (len(inputs[0]), 4)
    np.testing.assert_allclose(torch_scores.sum(axis=1), 1.0, atol=1e-6)
    ort_scores = onnx_predictor(tmp_path / "model.onnx", 7)(inputs)
    print(f"{kind} multiclass: ONNX max |diff| {np.max(np.abs(ort_scores - torch_scores)):.2e}")
    np.testing.assert_allclose(ort_scores, torch_scores, atol=1e-5)
    one = tuple(a[:1] for a in inputs)
    np.testing.assert_allclose(onnx_predictor(tmp_path / "model.onnx", 7)(one), torch_scores[:1], atol=1e-5)


@pytest.mark.parametrize("kind, overrides", [("deepsets", {"pooling": p}) for p in ("sum", "mean", "max")]
                         + [("transformer", {}), ("graph", {"edges": "radius"}),
                            ("graph", {"edges": "full", "aggregation": "mean", "pooling": "sum"}), ("cnn", {})])
def test_set_models_ignore_object_order_and_padding(kind, overrides):
    features, objects, mask = _inputs()
    model = _model(kind, (features, objects, mask), **overrides)
    reference = predict_torch(model, (features, objects, mask), 64)
    perm = np.random.default_rng(1).permutation(objects.shape[1])
    np.testing.assert_allclose(predict_torch(model, (features, objects[:, perm], mask[:, perm]), 64), reference,
                               rtol=1e-5)
    junk = np.where(mask[..., None] > 0, objects, 123.0).astype(np.float32)  # padded slots hold garbage
    np.testing.assert_allclose(predict_torch(model, (features, junk, mask), 64), reference, rtol=1e-5)
    # the objects matter
    assert np.max(np.abs(predict_torch(model, (features, objects * 2, mask), 64) - reference)) > 1e-4


def test_type_embedding_replaces_the_one_hot():
    """Objects of one type get the same learned vector, of another type another; the other fields stay."""
    n_types, width = 3, 4
    types = np.eye(n_types, dtype=np.float32)[[0, 2, 2, 1]]
    fields = np.random.default_rng(0).normal(size=(4, len(data.OBJECT_INPUTS))).astype(np.float32)
    objects = torch.from_numpy(np.concatenate([fields, types], axis=1)[None])
    mean, std = np.zeros(objects.shape[-1]), np.ones(objects.shape[-1])
    torch.manual_seed(0)
    embedded = models.ObjectInputs(mean, std, width)(objects)[0].detach()
    assert embedded.shape == (4, len(data.OBJECT_INPUTS) + width)
    np.testing.assert_array_equal(embedded[:, :len(data.OBJECT_INPUTS)], fields)
    vectors = embedded[:, len(data.OBJECT_INPUTS):]
    assert torch.equal(vectors[1], vectors[2]) and not torch.equal(vectors[0], vectors[1])
    assert not torch.equal(vectors[0], vectors[3])
    one_hot = models.ObjectInputs(mean, std, 0)
    assert one_hot.width == objects.shape[-1] and torch.equal(one_hot(objects), objects)


def test_transformer_heads_must_divide_the_width():
    with pytest.raises(ValueError, match="embed_dim 8 is not a multiple of heads 3"):
        _model("transformer", _inputs(), heads=3)


def test_standardise_uses_training_statistics_and_imputes_missing():
    features = np.array([[1.0, np.nan], [3.0, 4.0], [5.0, 8.0]], dtype=np.float32)
    mean, std = models.feature_statistics(features)
    np.testing.assert_allclose(mean, [3.0, 6.0])
    scaled = models.Standardise(mean, std)(torch.from_numpy(features))
    assert torch.isfinite(scaled).all() and scaled[0, 1] == 0.0


def test_batch_norm_trains_when_the_last_batch_would_hold_one_event(tmp_path):
    """33 events in batches of 16: the single last event joins the batch before it."""
    assert [len(b) for b in _Batches(33, 16, torch.Generator().manual_seed(0))] == [16, 17]
    assert len(_Batches(33, 16, None)) == 2 and len(_Batches(32, 16, None)) == 2 and len(_Batches(1, 16, None)) == 1
    cfg = synthetic.default_config({**TINY, "models": {"m": {"type": "mlp", "batch_norm": True, "batch_size": 16,
                                                             "epochs": 1}}})
    settings = model_settings(cfg, "m")
    features = _inputs(n=33)[0]
    label = (np.arange(33) % 2).astype(np.float32)
    model = _model("mlp", (features,), batch_norm=True)
    weight = np.ones(33, dtype=np.float32)
    history = fit(model, make_loss(settings), (features, label, weight), (features, label, weight), settings,
                  device=torch.device("cpu"), seed=1, checkpoint=tmp_path / "ck.pt")
    assert history["epochs_run"] == 1 and np.isfinite(history["train_loss"][0])


def test_integrated_gradients_by_hand_linear_and_nonlinear():
    """A linear score gives (x - x') w exactly; a nonlinear one adds up to f(x) - f(x') (completeness)."""
    w = torch.tensor([0.5, -2.0, 1.0], dtype=torch.float64)
    x = torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]], dtype=torch.float64)
    baseline = torch.tensor([[0.5, 0.0, 1.0]], dtype=torch.float64).expand_as(x)
    (linear,), difference = path_attributions(lambda v: v.double() @ w, [x], [baseline], [], steps=3)
    np.testing.assert_allclose(linear.numpy(), ((x - baseline) * w).numpy(), rtol=1e-6)
    np.testing.assert_allclose(linear.sum(1).numpy(), difference.numpy(), rtol=1e-6)

    def nonlinear(v):
        v = v.double()
        return torch.sigmoid(v @ w + v[:, 0] * v[:, 1])

    (attribution,), difference = path_attributions(nonlinear, [x], [baseline], [], steps=50)
    np.testing.assert_allclose(attribution.sum(1).numpy(), difference.numpy(), atol=1e-3)
    # f(x) - f(x') by hand for the first event: sigmoid(0.5 - 4 + 3 + 2) - sigmoid(0.25 + 0 + 1 + 0)
    assert float(difference[0]) == pytest.approx(1 / (1 + np.exp(-1.5)) - 1 / (1 + np.exp(-1.25)), rel=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_integrated_gradients_of_every_torch_kind(kind):
    inputs = _inputs(n=40, n_fields=data.n_object_fields({"objects": {"a": 2, "b": 4}}))
    model = _model(kind, inputs).eval()
    n_inputs = len(kinds.load(kind).INPUTS)
    label = (np.arange(40) % 3 == 0).astype(np.float32)
    frame = pd.DataFrame({"weight": np.ones(40)})
    events = data.Events(frame, *inputs[:1], *(inputs[1:] if n_inputs == 3 else (None, None)),
                         feature_names=tuple(f"f{i}" for i in range(inputs[0].shape[1])))
    test_set = data.TrainingSet(events, label, label, np.ones(40, np.float32), np.arange(40))
    ml = {"seed": 1, "objects": {"a": 2, "b": 4}, "metrics": {"integrated_gradients": {"events": 30, "steps": 50}}}
    result = integrated_gradients(model, test_set, ml)
    names = [f"f{i}" for i in range(5)] + (["objects:a", "objects:b"] if n_inputs == 3 else [])
    assert list(result["values"]) == names and result["events"] == 30
    assert all(np.isfinite(v) and v >= 0 for v in result["values"].values())
    # smooth in their inputs, completeness holds (missing features are missing in the baseline too);
    # graph (nearest neighbours) and cnn (pixels) jump where an object changes neighbour or pixel:
    # the path integral misses the jumps, and the deviation says by how much
    if kind in ("mlp", "deepsets", "transformer"):
        assert result["completeness_max_deviation"] < 1e-4
