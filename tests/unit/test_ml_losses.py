import itertools

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from colliderflow.ml import losses
from colliderflow.ml.data import process_weights


def _events(n=12, seed=0):
    rng = np.random.default_rng(seed)
    label = torch.tensor(np.r_[np.ones(n // 2), np.zeros(n - n // 2)], dtype=torch.float64)
    weight = torch.tensor(rng.uniform(0.5, 2.0, n), dtype=torch.float64)
    return label, weight


def _set_function(misclassified, label, weight, eps):
    """f(M) computed directly from its definition, with no cumulative sums."""
    lab, w, m = label.numpy(), weight.numpy(), np.asarray(misclassified, bool)
    lost = w[m & (lab == 1)].sum()
    accepted = w[m & (lab == 0)].sum()
    signal_total, background_total = w[lab == 1].sum(), w[lab == 0].sum()
    z = lambda s, b: s / np.sqrt(b + eps * background_total)  # noqa: E731
    return 1.0 - z(signal_total - lost, accepted) / z(signal_total, 0.0)


def _logits_for_errors(errors, label):
    """Logits whose per-event errors (signal 1 - p, background p) are ``errors``."""
    prob = torch.where(label > 0.5, 1.0 - errors, errors)
    return torch.logit(prob.clamp(1e-15, 1 - 1e-15))


def test_lovasz_equals_set_function_on_hypercube_vertices():
    label, weight = _events(8)
    eps = 0.05
    for vertex in itertools.product([0.0, 1.0], repeat=8):
        errors = torch.tensor(vertex, dtype=torch.float64)
        value = float(losses.lovasz_extension(errors, label, weight, eps))
        assert value == pytest.approx(_set_function(vertex, label, weight, eps), abs=1e-12)
    # and through logits (sigmoid saturates to the vertex)
    vertex = (1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0)
    logits = _logits_for_errors(torch.tensor(vertex, dtype=torch.float64), label)
    got = float(losses.lovasz_significance(logits, label, weight, eps))
    assert got == pytest.approx(_set_function(vertex, label, weight, eps), abs=1e-9)


def test_lovasz_set_function_is_zero_for_perfect_and_grows_with_errors():
    label, weight = _events(6)
    assert _set_function([0] * 6, label, weight, 0.1) == 0.0
    assert _set_function([1, 0, 0, 0, 0, 0], label, weight, 0.1) > 0
    assert _set_function([1, 0, 0, 1, 0, 0], label, weight, 0.1) > _set_function([1, 0, 0, 0, 0, 0], label, weight, 0.1)


def test_lovasz_gradient_matches_finite_differences():
    label, weight = _events(10, seed=3)
    rng = np.random.default_rng(7)
    logits = torch.tensor(rng.normal(0, 2, 10), dtype=torch.float64, requires_grad=True)
    errors = torch.where(label > 0.5, 1 - torch.sigmoid(logits), torch.sigmoid(logits)).detach().numpy()
    assert np.min(np.diff(np.sort(errors))) > 1e-4  # away from ties: the ordering is locally constant
    loss = losses.lovasz_significance(logits, label, weight, 0.1)
    (grad,) = torch.autograd.grad(loss, logits)
    h = 1e-7
    numeric = []
    for i in range(10):
        shift = torch.zeros(10, dtype=torch.float64)
        shift[i] = h
        up = losses.lovasz_significance(logits.detach() + shift, label, weight, 0.1)
        down = losses.lovasz_significance(logits.detach() - shift, label, weight, 0.1)
        numeric.append(float(up - down) / (2 * h))
    np.testing.assert_allclose(grad.numpy(), numeric, rtol=1e-6, atol=1e-9)
    assert np.all(grad.numpy()[label.numpy() == 1] <= 0)  # raising a signal logit never hurts
    assert np.all(grad.numpy()[label.numpy() == 0] >= 0)


def test_lovasz_gradient_is_difference_of_consecutive_set_values():
    label, weight = _events(6, seed=1)
    errors = torch.tensor([0.9, 0.2, 0.6, 0.8, 0.1, 0.4], dtype=torch.float64, requires_grad=True)
    loss = losses.lovasz_extension(errors, label, weight, 0.1)
    (grad,) = torch.autograd.grad(loss, errors)
    order = np.argsort(-errors.detach().numpy())
    values = [0.0] + [_set_function(np.isin(np.arange(6), order[: k + 1]), label, weight, 0.1) for k in range(6)]
    np.testing.assert_allclose(grad.numpy()[order], np.diff(values), atol=1e-12)


def test_weighted_losses_reduce_to_bce_with_equal_weights():
    rng = np.random.default_rng(2)
    logits = torch.tensor(rng.normal(0, 2, 50), dtype=torch.float64)
    label = torch.tensor(rng.integers(0, 2, 50), dtype=torch.float64)
    reference = F.binary_cross_entropy_with_logits(logits, label)
    for value in (1.0, 3.7):
        weight = torch.full((50,), value, dtype=torch.float64)
        assert float(losses.weighted_bce(logits, label, weight)) == pytest.approx(float(reference), rel=1e-12)
        assert float(losses.focal(logits, label, weight, gamma=0.0)) == pytest.approx(float(reference), rel=1e-12)
    # process-weighted CE: processes with equal sigma_i/N_i give equal weights -> BCE
    frame = pd.DataFrame({"process": rng.choice(["ggH", "VBF", "yy"], 50), "weight": np.full(50, 0.02)})
    per_process = process_weights(frame, np.zeros(50, bool), np.ones(50, bool), 1.0,
                                  {"family": "sigma_over_n_power", "exponent": 0.7, "signal_boost": False})
    weight = torch.tensor(frame["process"].map(per_process).to_numpy(), dtype=torch.float64)
    assert float(losses.weighted_bce(logits, label, weight)) == pytest.approx(float(reference), rel=1e-12)
    # and the settings route every name to the right function
    for name in ("bce", "weighted_bce"):
        assert float(losses.make_loss({"loss": name})(logits, label, weight)) == pytest.approx(float(reference))


# two processes: signal a, 4 events of weight 0.5 (3 in train), sigma_a = 2 fb at 1 fb^-1, N_a = 3;
# background b, 5 events of weight 10 (4 in train), sigma_b = 50 fb, N_b = 4
TWO_PROCESSES = pd.DataFrame({"process": ["a"] * 4 + ["b"] * 5, "weight": [0.5] * 4 + [10.0] * 5})
SIGNAL = np.array([True] * 4 + [False] * 5)
TRAIN = np.array([True, True, True, False, True, True, True, True, False])


@pytest.mark.parametrize("family, spec, a, b", [
    ("sigma_over_n_power", {"exponent": 0.5}, (2 / 3) ** 0.5, (50 / 4) ** 0.5),
    ("sigma_over_n_power", {"exponent": 1.0}, 2 / 3, 50 / 4),
    ("inverse_n", {}, 1 / 3, 1 / 4),
    ("inverse_root_n", {"n": 3}, 3 ** (-1 / 3), 4 ** (-1 / 3)),
    ("inverse_log_n", {}, 1 / np.log(3), 1 / np.log(4)),
    ("root_sigma_over_n", {"n": 2}, 2 ** 0.5 / 3, 50 ** 0.5 / 4),
    ("log_sigma", {}, np.log(2), np.log(50)),
])
def test_process_weight_families_on_two_processes(family, spec, a, b):
    spec = {"family": family, "exponent": 0.5, "n": 2, "signal_boost": False, **spec}
    weights = process_weights(TWO_PROCESSES, SIGNAL, TRAIN, 1.0, spec)
    assert weights.to_dict() == pytest.approx({"a": a, "b": b}, rel=1e-12)
    # signal boost: 10^floor(log10(50 / 2)) = 10 on the signal process only
    boosted = process_weights(TWO_PROCESSES, SIGNAL, TRAIN, 1.0, {**spec, "signal_boost": True})
    assert boosted.to_dict() == pytest.approx({"a": 10 * a, "b": b}, rel=1e-12)


def test_process_weights_refuse_what_they_cannot_weigh():
    spec = {"family": "log_sigma", "exponent": 0.5, "n": 2, "signal_boost": False}
    # at 10 fb^-1 sigma_a = 0.2 fb: ln sigma_a < 0
    with pytest.raises(ValueError, match=r"a \(sigma 0.2 fb, N 3\): -1.609.*process_weights.family"):
        process_weights(TWO_PROCESSES, SIGNAL, TRAIN, 10.0, spec)
    one_event = TRAIN & (np.arange(9) != 1) & (np.arange(9) != 2)  # N_a = 1: ln N_a = 0
    with pytest.raises(ValueError, match="inverse_log_n.*a .*inf"):
        process_weights(TWO_PROCESSES, SIGNAL, one_event, 1.0, {**spec, "family": "inverse_log_n"})
    with pytest.raises(ValueError, match="a has no training events"):
        process_weights(TWO_PROCESSES, SIGNAL, ~SIGNAL, 1.0, {**spec, "family": "inverse_n"})
    negative = TWO_PROCESSES.assign(weight=[0.5] * 4 + [-10.0] * 5)
    with pytest.raises(ValueError, match="b has a non-positive summed weight"):
        process_weights(negative, SIGNAL, TRAIN, 1.0, {**spec, "family": "inverse_n"})


def test_focal_down_weights_easy_events():
    logits = torch.tensor([4.0, 0.1])
    label = torch.tensor([1.0, 1.0])
    one = torch.ones(1)
    easy, hard = (float(losses.focal(logits[i:i + 1], label[i:i + 1], one, 2.0)) for i in range(2))
    bce_easy, bce_hard = (float(losses.weighted_bce(logits[i:i + 1], label[i:i + 1], one)) for i in range(2))
    assert easy / bce_easy < hard / bce_hard < 1.0


def test_make_loss_lovasz_mix_and_unknown():
    label, weight = _events(8)
    logits = torch.linspace(-2, 2, 8, dtype=torch.float64)
    settings = {"loss": "lovasz", "lovasz_eps": 0.1, "lovasz_bce_weight": 0.5, "lovasz_errors": "sigmoid",
                "focal_gamma": 2.0}
    mixed = losses.make_loss(settings)(logits, label, weight)
    expected = losses.lovasz_significance(logits, label, weight, 0.1) + 0.5 * losses.weighted_bce(logits, label, weight)
    assert float(mixed) == pytest.approx(float(expected))
    with pytest.raises(ValueError, match="unknown loss"):
        losses.make_loss({"loss": "hinge"})


def test_lovasz_error_vectors_by_hand_and_their_gradient():
    """Three events: signal at logit 2 and -1, background at 0.5; margins m = 2, -1, -0.5."""
    logits = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64, requires_grad=True)
    label = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)
    p_true = 1 / (1 + np.exp(-np.array([2.0, -1.0, -0.5])))  # sigmoid(m)
    expected = {
        "sigmoid": [1 - p_true[0], 1 - p_true[1], 1 - p_true[2]],
        "hinge": [0.0, 2.0, 1.5],
        "cross_entropy": [np.log(1 + np.exp(-2.0)), np.log(1 + np.exp(1.0)), np.log(1 + np.exp(0.5))],
        "focal": [(1 - p) ** 3 * -np.log(p) for p in p_true],  # gamma 3
    }
    weight = torch.ones(3, dtype=torch.float64)
    for kind, values in expected.items():
        errors = losses.lovasz_errors(logits, label, kind, gamma=3.0)
        np.testing.assert_allclose(errors.detach().numpy(), values, rtol=1e-12, atol=1e-15)
        # S = 2, B = 1, eps = 1: losing signal event 1, then accepting the background, then losing event 0
        # gives f = 1 - 0.5, 1 - 0.5 sqrt(1/2), 1 (the errors sort 1, 2, 0 for every kind)
        f = np.array([0.5, 1 - 0.5 * np.sqrt(0.5), 1.0])
        gains = np.diff(f, prepend=0.0)
        loss = losses.lovasz_significance(logits, label, weight, 1.0, kind, 3.0)
        assert float(loss.detach()) == pytest.approx(float(np.dot(np.array(values)[[1, 2, 0]], gains)), rel=1e-12)
        (grad,) = torch.autograd.grad(loss, logits)
        assert torch.isfinite(grad).all() and grad[1] < 0 < grad[2]  # raise the lost signal, lower the background
        if kind == "hinge":
            assert grad[0] == 0  # beyond the margin: no error, no gradient
    with pytest.raises(ValueError, match="unknown Lovasz error vector 'square'"):
        losses.lovasz_errors(logits, label, "square")


def test_categorical_cross_entropy_and_focal_by_hand():
    """Three events, three classes: -ln p_t and (1 - p_t)^gamma (-ln p_t), weighted by w / sum |w|."""
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0], [-1.0, 1.0, 3.0]], dtype=torch.float64)
    target = torch.tensor([0, 2, 1])
    weight = torch.tensor([1.0, 2.0, -0.5], dtype=torch.float64)
    p_true = [np.exp(2) / (np.exp(2) + 1 + np.exp(-1)), 1 / (2 * np.exp(0.5) + 1), np.exp(1) / (np.exp(-1) + np.exp(1) + np.exp(3))]
    ce = -np.log(p_true)
    w = weight.numpy()
    assert float(losses.weighted_bce(logits, target, weight)) == pytest.approx((w * ce).sum() / np.abs(w).sum(), rel=1e-12)
    focal = (w * (1 - np.array(p_true)) ** 2 * ce).sum() / np.abs(w).sum()
    assert float(losses.focal(logits, target, weight, gamma=2.0)) == pytest.approx(focal, rel=1e-12)
    # two classes: the softmax cross entropy is the binary one of the logit difference
    two = logits[:, :2]
    label = (target[:2] == 1).to(torch.float64)
    assert float(losses.weighted_bce(two[:2], target[:2].clamp(max=1), weight[:2])) == pytest.approx(
        float(losses.weighted_bce(two[:2, 1] - two[:2, 0], label, weight[:2])), rel=1e-12)
