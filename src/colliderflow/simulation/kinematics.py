"""Four-vectors and samplers for the toy generators, columnar (numpy, whole arrays).

A four-vector array is an (n, 4) float64 array (px, py, pz, E), GeV.
"""

from __future__ import annotations

import numpy as np

# masses and widths, GeV (PDG, rounded)
M_W, M_Z, M_TOP, M_B = 80.38, 91.19, 172.5, 4.8
G_W, G_Z = 2.09, 2.50


def p4_ptyphim(pt, y, phi, m):
    """Four-vectors from transverse momentum, rapidity, azimuth and mass."""
    mt = np.sqrt(pt**2 + m**2)
    return np.stack([pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(y), mt * np.cosh(y)], axis=-1)


def pt_eta_phi(p4):
    """(pT, pseudorapidity, azimuth) of four-vectors."""
    px, py, pz = p4[:, 0], p4[:, 1], p4[:, 2]
    pt = np.hypot(px, py)
    return pt, np.arcsinh(pz / np.maximum(pt, 1e-9)), np.arctan2(py, px)


def mass(p4):
    """Invariant mass (0 where rounding makes m^2 negative)."""
    return np.sqrt(np.maximum(p4[:, 3] ** 2 - np.sum(p4[:, :3] ** 2, axis=1), 0.0))


def boost(p4, beta):
    """Lorentz boost of ``p4`` by velocity ``beta`` ((n, 3))."""
    b2 = np.sum(beta**2, axis=1)
    gamma = 1.0 / np.sqrt(1.0 - np.minimum(b2, 1 - 1e-15))
    bp = np.sum(beta * p4[:, :3], axis=1)
    g2 = np.where(b2 > 0, (gamma - 1.0) / np.where(b2 > 0, b2, 1.0), 0.0)
    p = p4[:, :3] + (g2 * bp + gamma * p4[:, 3])[:, None] * beta
    return np.concatenate([p, (gamma * (p4[:, 3] + bp))[:, None]], axis=1)


def two_body(rng, parent, m1, m2, cos_theta=None):
    """Decay ``parent`` into masses m1, m2: isotropic (or given cos theta w.r.t. the beam
    axis) in the parent rest frame, then boosted to the lab."""
    n = len(parent)
    big_m = mass(parent)
    m1 = np.broadcast_to(np.asarray(m1, dtype=float), (n,))
    m2 = np.broadcast_to(np.asarray(m2, dtype=float), (n,))
    pstar = np.sqrt(np.maximum((big_m**2 - (m1 + m2) ** 2) * (big_m**2 - (m1 - m2) ** 2), 0.0)) / (2 * big_m)
    cos = rng.uniform(-1, 1, n) if cos_theta is None else cos_theta
    sin = np.sqrt(1 - cos**2)
    phi = rng.uniform(-np.pi, np.pi, n)
    direction = np.stack([sin * np.cos(phi), sin * np.sin(phi), cos], axis=1)
    d1 = np.concatenate([pstar[:, None] * direction, np.sqrt(pstar**2 + m1**2)[:, None]], axis=1)
    d2 = np.concatenate([-pstar[:, None] * direction, np.sqrt(pstar**2 + m2**2)[:, None]], axis=1)
    beta = parent[:, :3] / parent[:, 3:4]
    return boost(d1, beta), boost(d2, beta)


def sample_pdf(rng, pdf, lo, hi, n, grid=4001):
    """Draw ``n`` values from a 1-d density on [lo, hi] by inverting its tabulated CDF."""
    x = np.linspace(lo, hi, grid)
    f = pdf(x)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(x))])
    return np.interp(rng.uniform(0, cdf[-1], n), cdf, x)


def truncated_exponential(rng, slope, lo, hi, n):
    """exp(-slope x) on [lo, hi] (uniform for slope 0), by inversion."""
    u = rng.uniform(0, 1, n)
    if slope == 0:
        return lo + u * (hi - lo)
    return lo - np.log1p(-u * (1 - np.exp(-slope * (hi - lo)))) / slope


def breit_wigner(rng, m0, width, n, cut=10.0):
    """Relativistic width approximated by a Cauchy truncated at +-cut widths."""
    return m0 + 0.5 * width * np.tan(rng.uniform(-1, 1, n) * np.arctan(2 * cut))


def two_body_helicity(rng, parent, m1, m2, cos_theta):
    """Decay ``parent`` into masses m1, m2 with daughter 1 at polar angle arccos(cos_theta)
    to the parent's flight direction (the helicity frame) and a uniform azimuth; the
    daughters are returned in the frame ``parent`` is given in."""
    n = len(parent)
    big_m = mass(parent)
    m1 = np.broadcast_to(np.asarray(m1, dtype=float), (n,))
    m2 = np.broadcast_to(np.asarray(m2, dtype=float), (n,))
    pstar = np.sqrt(np.maximum((big_m**2 - (m1 + m2) ** 2) * (big_m**2 - (m1 - m2) ** 2), 0.0)) / (2 * big_m)
    momentum = np.linalg.norm(parent[:, :3], axis=1)
    axis = np.where(momentum[:, None] > 0, parent[:, :3] / np.maximum(momentum, 1e-12)[:, None], [0.0, 0.0, 1.0])
    # an orthonormal frame (first, second, axis) around the flight direction
    helper = np.where(np.abs(axis[:, 2:3]) < 0.9, [0.0, 0.0, 1.0], [1.0, 0.0, 0.0])
    first = np.cross(helper, axis)
    first /= np.linalg.norm(first, axis=1)[:, None]
    second = np.cross(axis, first)
    sin = np.sqrt(np.maximum(1 - cos_theta**2, 0.0))
    phi = rng.uniform(-np.pi, np.pi, n)
    direction = (sin * np.cos(phi))[:, None] * first + (sin * np.sin(phi))[:, None] * second + cos_theta[:, None] * axis
    d1 = np.concatenate([pstar[:, None] * direction, np.sqrt(pstar**2 + m1**2)[:, None]], axis=1)
    d2 = np.concatenate([-pstar[:, None] * direction, np.sqrt(pstar**2 + m2**2)[:, None]], axis=1)
    beta = parent[:, :3] / parent[:, 3:4]
    return boost(d1, beta), boost(d2, beta)


def kallen(a, b, c):
    """The Källén function lambda(a, b, c) = a^2 + b^2 + c^2 - 2ab - 2ac - 2bc."""
    return a**2 + b**2 + c**2 - 2 * a * b - 2 * a * c - 2 * b * c


def two_body_momentum_fraction(big_m, m1, m2):
    """beta = 2 p* / M of a two-body decay (0 below threshold): sqrt(lambda(1, x1, x2)), x = m^2/M^2."""
    x1, x2 = (m1 / big_m) ** 2, (m2 / big_m) ** 2
    return np.sqrt(np.maximum(kallen(1.0, x1, x2), 0.0)) * ((m1 + m2) < big_m)


def breit_wigner_density(m, m0, width):
    """Relativistic Breit-Wigner density in m (unnormalised): m0 width m / ((m^2 - m0^2)^2 + m0^2 width^2)."""
    return m0 * width * m / ((m**2 - m0**2) ** 2 + (m0 * width) ** 2)


def sample_pdf_2d(rng, pdf, x_range, y_range, n, bins=400):
    """Draw ``n`` points (x, y) from a 2-d density: a cell of a ``bins`` x ``bins`` grid with
    probability proportional to the density at its centre, then uniformly inside the cell."""
    x_edges = np.linspace(*x_range, bins + 1)
    y_edges = np.linspace(*y_range, bins + 1)
    x_mid, y_mid = 0.5 * (x_edges[1:] + x_edges[:-1]), 0.5 * (y_edges[1:] + y_edges[:-1])
    density = np.maximum(pdf(x_mid[:, None], y_mid[None, :]), 0.0).ravel()
    cell = rng.choice(len(density), size=n, p=density / density.sum())
    ix, iy = np.divmod(cell, bins)
    x = x_edges[ix] + rng.uniform(size=n) * (x_edges[1] - x_edges[0])
    y = y_edges[iy] + rng.uniform(size=n) * (y_edges[1] - y_edges[0])
    return x, y
