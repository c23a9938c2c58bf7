"""The graph and cnn kinds: their edges and images on hand-made events, and, trained for two
epochs on toy events, ONNX parity and a score that ignores object order and padding."""

import math

import numpy as np
import pytest
import torch

from colliderflow.analyses.hyy import synthetic
from colliderflow.config import ConfigError
from colliderflow.ml import cnn, data, graph, kinds
from colliderflow.ml.apply import ONNX_FILE, onnx_predictor
from colliderflow.ml.data import OBJECT_INPUTS
from colliderflow.ml.settings import model_settings

OBSERVABLE = synthetic.observable()
TINY = {"threads": 1, "network": {"epochs": 2, "patience": 5, "batch_size": 128},
        "graph": {"convolutions": [8, 8], "head_hidden": [8]},
        "cnn": {"pixels_eta": 8, "pixels_phi": 8, "channels": [4, 8], "head_hidden": [8]}}


def _objects(positions, log_pt=4.0, n_types=2):
    """Raw object tensor of one event from (eta, phi, type) per object, and its mask (all real)."""
    rows = []
    for eta, phi, kind in positions:
        fields = dict(log_pt=log_pt, eta=eta, cos_dphi=math.cos(phi), sin_dphi=math.sin(phi), log_e=log_pt, btag=0.0)
        rows.append([fields[name] for name in OBJECT_INPUTS] + list(np.eye(n_types)[kind]))
    objects = torch.tensor([rows], dtype=torch.float32)
    return objects, torch.ones(objects.shape[:2])


def _graph(edges, **settings):
    cfg = synthetic.default_config({"models": {"m": {"type": "graph", "edges": edges, **settings}}})
    features, objects, mask = np.zeros((2, 1), np.float32), np.zeros((2, 4, 8), np.float32), np.ones((2, 4), np.float32)
    return graph.ObjectGraph(**graph.spec(model_settings(cfg, "m"), (features, objects, mask)), n_outputs=1)


# four objects: 0 and 1 close across the phi = pi edge (Delta R 0.28), 2 at Delta R 1 from 0, 3 far away
POSITIONS = [(0.0, 3.0, 0), (0.0, -3.0, 0), (1.0, 3.0, 1), (-2.0, 0.0, 1)]


@pytest.mark.parametrize("edges, settings, expected", [
    ("knn", {"k": 2}, [[1, 1, 0, 0], [1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 0, 1]]),  # 3: 0 and 1 tie
    ("radius", {"radius": 1.01}, [[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1]]),
    ("full", {}, [[1, 1, 1, 1]] * 4),
])
def test_graph_edges_come_from_delta_r_and_skip_padding(edges, settings, expected):
    objects, mask = _objects(POSITIONS)
    np.testing.assert_array_equal(_graph(edges, **settings).adjacency(objects, mask)[0], expected)
    mask[0, 1] = 0  # object 1 is padding: it has no edges, and the nearest real object replaces it
    adjacency = _graph(edges, **settings).adjacency(objects, mask)[0]
    assert adjacency[1].sum() == 0 and adjacency[:, 1].sum() == 0
    if edges == "knn":
        np.testing.assert_array_equal(adjacency[0], [1, 0, 1, 0])


def test_cnn_draws_each_object_as_a_disc_of_its_type():
    image = cnn.EventImage(pixels_eta=10, pixels_phi=12, eta_range=[-2.5, 2.5], alpha=0.25)
    eta_centres, phi_centres = np.linspace(-2.25, 2.25, 10), -math.pi + (np.arange(12) + 0.5) * math.pi / 6
    objects, mask = _objects([(0.25, 0.0, 0), (0.25, 3.0, 1), (-2.0, 1.0, 1)], log_pt=4.0)
    drawn = image(objects, mask)[0].numpy()
    assert drawn.shape == (2, 10, 12)
    dphi = np.abs((phi_centres - 3.0 + math.pi) % (2 * math.pi) - math.pi)  # wraps at pi
    inside = (eta_centres[:, None] - 0.25) ** 2 + dphi[None, :] ** 2 <= 1.0  # radius 0.25 * 4
    assert inside[:, 0].any() and inside[:, -1].any()
    assert drawn[0].sum() == ((eta_centres[:, None] - 0.25) ** 2 + phi_centres[None, :] ** 2 <= 1.0).sum()
    np.testing.assert_array_equal(drawn[1] - _disc(image, -2.0, 1.0), inside)
    mask[0, 2] = 0  # padding draws nothing
    np.testing.assert_array_equal(image(objects, mask)[0, 1].numpy(), inside)
    # a soft object (ln pT < 0: a mass-scaled photon) still marks the pixel it falls in
    soft = image(*_objects([(0.1, 0.1, 0)], log_pt=-1.0))[0, 0].numpy()
    assert soft.sum() >= 1 and soft[5, 6] == 1


def _disc(image, eta, phi):
    objects, mask = _objects([(eta, phi, 1)], log_pt=4.0)
    return image(objects, mask)[0, 1].numpy()


def test_cnn_grid_must_survive_the_pooling():
    cfg = synthetic.default_config({"models": {"m": {"type": "cnn", "pixels_phi": 4, "channels": [4, 4, 4]}}})
    inputs = (np.zeros((2, 1), np.float32), np.zeros((2, 4, 8), np.float32), np.ones((2, 4), np.float32))
    with pytest.raises(ConfigError, match="model m: 3 convolutions halve the grid 3 times, so pixels_eta and "
                                          "pixels_phi must be at least 8"):
        cnn.spec(model_settings(cfg, "m"), inputs)


@pytest.fixture(scope="module")
def toy_sets(tmp_path_factory):
    features = synthetic.write_features(tmp_path_factory.mktemp("features"), n_events=400, seed=3)
    cfg = synthetic.default_config(TINY)
    events = data.load_events(features, cfg, OBSERVABLE, with_objects=True)
    return cfg, events


@pytest.mark.parametrize("kind", ["graph", "cnn"])
def test_trained_kind_exports_to_onnx_and_ignores_object_order_and_padding(kind, toy_sets, tmp_path):
    _, events = toy_sets
    cfg = synthetic.default_config({**TINY, "models": {"m": {"type": kind}}})
    settings = model_settings(cfg, "m")
    sets = data.training_sets(events, cfg["ml"], settings, OBSERVABLE, cfg["lumi_fb"])
    module = kinds.load(kind)
    history = module.train(settings, sets, cfg["ml"], tmp_path, tmp_path)
    assert history["epochs_run"] == 2 and history["onnx_max_abs_diff"] < 1e-5
    predict = onnx_predictor(tmp_path / ONNX_FILE, settings["eval_batch_size"])  # what apply scores with
    features, objects, mask = sets["test"].events.inputs()
    reference = predict((features, objects, mask))
    assert np.all((reference > 0) & (reference < 1)) and np.std(reference) > 1e-3
    order = np.random.default_rng(1).permutation(objects.shape[1])
    np.testing.assert_allclose(predict((features, objects[:, order], mask[:, order])), reference, atol=1e-6)
    junk = np.where(mask[..., None] > 0, objects, 3.0).astype(np.float32)  # padded slots hold garbage
    np.testing.assert_allclose(predict((features, junk, mask)), reference, atol=1e-6)
    moved = objects.copy()
    moved[..., OBJECT_INPUTS.index("eta")] *= -0.5  # the objects' positions matter
    assert np.max(np.abs(predict((features, moved, mask)) - reference)) > 1e-4
