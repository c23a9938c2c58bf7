"""Losses of the torch classifiers; every one takes (logits, target, weight) and returns a scalar.

Binary models give one logit per event and the target is the label (float 0/1); multiclass
models give one logit per class (events, classes) and the target is the class index (int64).

* ``bce``: weighted cross entropy, sum(w l) / sum(|w|) (equal weights: torch's BCE, or its
  categorical cross entropy over the softmax for a multiclass model).
* ``weighted_bce``: the same function; the process weights (``ml.network.process_weights``) are
  made by ``data.process_weights`` and arrive as ``weight``.
* ``focal``: Lin et al. 2017, (1 - p_t)^gamma times the weighted cross entropy (gamma = 0:
  cross entropy), p_t the probability given to the true class.
* ``lovasz``: a convex-hull surrogate of the discovery significance (``lovasz_significance``)
  at one of the error vectors ``lovasz_errors``; binary only (``settings.check_multiclass`` refuses it for a multiclass model).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _normalised(per_event: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (weight * per_event).sum() / weight.abs().sum().clamp_min(torch.finfo(per_event.dtype).tiny)


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-event -ln p_t: binary (logits (events,), target 0/1) or categorical (logits
    (events, classes), target the class index)."""
    if logits.dim() == 1:
        return F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return F.cross_entropy(logits, target, reduction="none")


def weighted_bce(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return _normalised(cross_entropy(logits, target), weight)


def focal(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Down-weights well-classified events so training concentrates on the hard ones."""
    ce = cross_entropy(logits, target)
    p_true = torch.exp(-ce)  # probability given to the true class, numerically stable
    return _normalised((1.0 - p_true).pow(gamma) * ce, weight)


def significance_set_function(lost_signal, accepted_background, signal_total, background_total, eps):
    """f(M) = 1 - Z(M) / Z(empty set), with Z = s / sqrt(b + eps B).

    M is a set of misclassified events: its signal is lost (s = S - lost_signal) and its
    background is accepted (b = accepted_background). With efficiencies eff_s = s/S and
    eff_b = b/B this is f = 1 - eff_s sqrt(eps / (eff_b + eps)): 0 for a perfect selection,
    rising towards 1 as signal is lost or background accepted; independent of the overall
    normalisation of either class, so class balance does not matter. ``eps`` is the
    background-efficiency floor below which purity no longer pays: small eps favours pure
    selections (eff_b ~ eps), large eps high signal efficiency; on the embedded dataset,
    whose best selections keep most of the background, eps = 1 worked best.
    Works on tensors or numpy arrays (cumulative sums give f along a whole ordering).
    """
    lib = torch if isinstance(lost_signal, torch.Tensor) else np
    eff_s = 1.0 - lost_signal / signal_total if signal_total > 0 else lib.ones_like(lost_signal)
    eff_b = accepted_background / background_total if background_total > 0 else lib.zeros_like(accepted_background)
    return 1.0 - eff_s * lib.sqrt(eps / (eff_b + eps))


LOVASZ_ERRORS = ("sigmoid", "hinge", "cross_entropy", "focal")


def lovasz_errors(logits: torch.Tensor, label: torch.Tensor, kind: str = "sigmoid", gamma: float = 2.0) -> torch.Tensor:
    """Per-event error vector the Lovasz extension is evaluated at, from the margin m = +-logit
    (+ for signal, - for background) and p_t = sigmoid(m), the probability of the true class:

    * ``sigmoid``: 1 - p_t, in [0, 1] (the extension interpolates between the set values);
    * ``hinge``: max(0, 1 - m), the Lovasz hinge of Berman et al.;
    * ``cross_entropy``: -ln p_t;
    * ``focal``: (1 - p_t)^gamma (-ln p_t).

    The last three are unbounded: the extension is positively homogeneous, so they weigh the
    set-function gains by how wrong an event is rather than saturating at 1.
    """
    logits = logits.float() if logits.dtype == torch.float16 else logits
    margin = torch.where(label > 0.5, logits, -logits)
    if kind == "sigmoid":
        return torch.sigmoid(-margin)
    if kind == "hinge":
        return F.relu(1.0 - margin)
    cross_entropy = F.softplus(-margin)  # -ln p_t
    if kind == "cross_entropy":
        return cross_entropy
    if kind == "focal":
        return (-torch.expm1(-cross_entropy)).pow(gamma) * cross_entropy  # 1 - p_t = 1 - exp(ln p_t)
    raise ValueError(f"unknown Lovasz error vector '{kind}'; choose one of {', '.join(LOVASZ_ERRORS)}")


def lovasz_significance(logits: torch.Tensor, label: torch.Tensor, weight: torch.Tensor, eps: float = 1.0,
                        errors: str = "sigmoid", gamma: float = 2.0) -> torch.Tensor:
    """Lovasz surrogate of the significance for logits at the error vector ``errors`` (``lovasz_errors``)."""
    return lovasz_extension(lovasz_errors(logits, label, errors, gamma), label, weight, eps)


def lovasz_extension(errors: torch.Tensor, label: torch.Tensor, weight: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Lovasz extension of the significance set function, evaluated at per-event errors >= 0.

    The Lovasz extension (Lovasz 1983; used as a loss by Berman, Triki, Blaschko, "The
    Lovasz-Softmax loss", CVPR 2018, for the Jaccard index) interpolates a set function f
    with f(empty) = 0 from the vertices of the hypercube to all of [0, 1]^n: sort the
    errors e in decreasing order pi, then

        loss(e) = sum_k e_pi(k) * (f(P_k) - f(P_{k-1})),   P_k = {pi(1), ..., pi(k)},

    so loss(1_M) = f(M) at every vertex and the gradient with respect to e_pi(k) is the
    difference of consecutive set-function values. Here f is ``significance_set_function``
    (lost significance Z = s / sqrt(b + eps B)), as in HEP work on training classifiers to
    maximise the discovery significance directly. Weights must be non-negative (``data``
    takes |w| for this loss). The ordering is not differentiated (piecewise linear in e).
    The nested sets P_k are {signal with p < 1 - tau} + {background with p > tau} for a
    falling tau: selections at the score 0.5 with a growing margin, so the surrogate shapes
    the selection around 0.5 rather than at every threshold (hence ``lovasz_bce_weight``).
    """
    label = label.to(errors.dtype)
    weight = weight.to(errors.dtype)
    order = torch.argsort(errors.detach(), descending=True, stable=True)
    with torch.no_grad():
        w_sig = (weight * label)[order]
        w_bkg = (weight * (1.0 - label))[order]
        signal_total, background_total = float(w_sig.sum()), float(w_bkg.sum())
        f = significance_set_function(torch.cumsum(w_sig, 0), torch.cumsum(w_bkg, 0), signal_total, background_total, eps)
        gains = torch.diff(f, prepend=f.new_zeros(1))
    return torch.dot(errors[order], gains)


def make_loss(settings: dict) -> LossFn:
    """The loss a model's settings ask for (``loss``, ``focal_gamma``, ``lovasz_eps``, ``lovasz_errors``,
    ``lovasz_bce_weight``)."""
    name = settings["loss"]
    if name in ("bce", "weighted_bce"):
        return weighted_bce
    if name == "focal":
        gamma = settings["focal_gamma"]
        return lambda logits, label, weight: focal(logits, label, weight, gamma)
    if name == "lovasz":
        eps, mix, errors = settings["lovasz_eps"], settings["lovasz_bce_weight"], settings["lovasz_errors"]
        gamma = settings["focal_gamma"]

        def lovasz(logits, label, weight):
            loss = lovasz_significance(logits, label, weight, eps, errors, gamma)
            return loss + mix * weighted_bce(logits.float(), label, weight) if mix > 0 else loss

        return lovasz
    raise ValueError(f"unknown loss '{name}'; choose bce, weighted_bce, lovasz or focal")
