"""Figures of the statistical analysis, in the ATLAS style of mplhep (Agg backend).

Generic: every function takes arrays or dicts and a ``label`` (e.g. "Open Data Simulation"),
knows nothing about the analysis, writes the figure atomically and returns nothing.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats as _sps  # noqa: E402

from ..io import atomic_path  # noqa: E402


def _style():
    mplhep.style.use("ATLAS")


def _label(ax, label: str | None, lumi_fb: float | None = None, loc: int = 0):
    if label is None:
        return
    mplhep.atlas.label(text=label, data=True, lumi=lumi_fb, ax=ax, loc=loc)


def _save(fig, path):
    path = Path(path)
    with atomic_path(path) as tmp:
        real = tmp.with_suffix(path.suffix)
        fig.savefig(real, bbox_inches="tight")
        real.replace(tmp)
    plt.close(fig)


def fit_plot(path, edges, counts, errors, curve_x, curve_total, curve_background, *, curve_signal=None,
             bkg_in_bins=None, xlabel="observable [GeV]", unit="GeV", label="Open Data",
             lumi_fb=None, title=None, text_lines=()):
    """Data points with the S+B fit and the background-only component; lower panel data - background.

    ``counts, errors``: per bin of ``edges``; ``curve_*``: expected events per bin width
    evaluated at ``curve_x`` (the same normalisation as ``counts``); ``bkg_in_bins``:
    background per bin, for the residuals (default: the curve interpolated at bin centres).
    """
    _style()
    centres = 0.5 * (edges[1:] + edges[:-1])
    width = float(np.mean(np.diff(edges)))
    fig, (ax, rx) = plt.subplots(2, 1, figsize=(8, 8), sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05})
    ax.errorbar(centres, counts, yerr=errors, fmt="ko", ms=3, label="Data")
    ax.plot(curve_x, curve_total, "r-", lw=2, label="Signal + background fit")
    ax.plot(curve_x, curve_background, "b--", lw=2, label="Background")
    if curve_signal is not None:
        ax.plot(curve_x, curve_signal, "g:", lw=1.5, label="Signal")
    ax.set_ylabel(f"Events / {width:g} {unit}")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right")
    _label(ax, label, lumi_fb)
    for i, line in enumerate(text_lines):
        ax.text(0.05, 0.80 - 0.06 * i, line, transform=ax.transAxes)
    if title:
        ax.set_title(title)
    bkg = np.interp(centres, curve_x, curve_background) if bkg_in_bins is None else np.asarray(bkg_in_bins)
    rx.errorbar(centres, counts - bkg, yerr=errors, fmt="ko", ms=3)
    rx.plot(curve_x, np.asarray(curve_total) - np.asarray(curve_background), "r-", lw=2)
    rx.axhline(0, color="b", ls="--")
    rx.set_ylabel("Data - Bkg.")
    rx.set_xlabel(xlabel)
    rx.set_xlim(edges[0], edges[-1])
    _save(fig, path)


def likelihood_scan_plot(path, values, dnll2, *, xlabel="$\\mu$", label="Open Data", lumi_fb=None,
                         expected=None, interval68=None, interval95=None):
    """-2 Delta ln L against a parameter, with the 1 and 3.84 lines (and an expected curve)."""
    _style()
    fig, ax = plt.subplots(figsize=(8, 6))
    ax.plot(values, dnll2, "k-", lw=2, label="Observed")
    if expected is not None:
        ax.plot(expected[0], expected[1], "k--", lw=1.5, label="Expected")
    for level, text in ((1.0, "68%"), (_sps.chi2.ppf(0.95, 1), "95%")):
        ax.axhline(level, color="grey", ls=":")
        ax.text(values[-1], level, f" {text}", va="bottom", ha="right", color="grey")
    for iv, colour in ((interval68, "tab:green"), (interval95, "tab:orange")):
        if iv:
            for edge in iv:
                if edge is not None:
                    ax.axvline(edge, color=colour, ls="--", lw=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("$-2\\Delta\\ln L$")
    ymax = np.nanmax(np.asarray(dnll2, dtype=float))
    ax.set_ylim(0, max(min(ymax, 12.0), 5.0) * 1.3)
    ax.legend(loc="upper right")
    _label(ax, label, lumi_fb)
    _save(fig, path)


def p0_plot(path, mass, p0, *, p0_expected=None, xlabel="peak position [GeV]", label="Open Data", lumi_fb=None,
            max_sigma=5):
    """Local p0 against the mass, log scale, with the 1..5 sigma lines."""
    _style()
    fig, ax = plt.subplots(figsize=(8, 6))
    p0 = np.clip(np.asarray(p0, dtype=float), 1e-300, 1)
    ax.plot(mass, p0, "k-", lw=2, label="Observed $p_0$")
    if p0_expected is not None:
        ax.plot(mass, np.clip(p0_expected, 1e-300, 1), "k--", lw=1.5, label="Expected $p_0$ (SM signal)")
    ax.set_yscale("log")
    lowest = min(float(np.min(p0)), float(np.min(p0_expected)) if p0_expected is not None else 1.0)
    nsig = int(max(max_sigma, min(np.ceil(_sps.norm.isf(max(lowest, 1e-300))), 12)))
    for k in range(1, nsig + 1):
        p = _sps.norm.sf(k)
        ax.axhline(p, color="r", ls=":", lw=1)
        ax.text(mass[-1], p, f" {k}$\\sigma$", color="r", va="center", ha="left")
    ax.set_ylim(min(lowest, _sps.norm.sf(nsig)) * 0.3, 5.0)
    ax.set_xlim(mass[0], mass[-1])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Local $p_0$")
    ax.legend(loc="lower left")
    _label(ax, label, lumi_fb)
    _save(fig, path)


def limit_band_plot(path, poi_values, cls_obs, cls_exp, *, cl=0.95, upper_limit=None, xlabel="$\\mu$",
                    label="Open Data", lumi_fb=None):
    """CLs against the POI with the expected +/-1 and +/-2 sigma bands (Brazil plot)."""
    _style()
    cls_exp = np.asarray(cls_exp, dtype=float)  # shape (points, 5): -2..+2 sigma
    fig, ax = plt.subplots(figsize=(8, 6))
    ax.fill_between(poi_values, cls_exp[:, 0], cls_exp[:, 4], color="yellow", label="Expected $\\pm 2\\sigma$")
    ax.fill_between(poi_values, cls_exp[:, 1], cls_exp[:, 3], color="limegreen", label="Expected $\\pm 1\\sigma$")
    ax.plot(poi_values, cls_exp[:, 2], "k--", label="Expected")
    ax.plot(poi_values, cls_obs, "k-", lw=2, label="Observed")
    ax.axhline(1 - cl, color="r", label=f"{100 * cl:g}% CL")
    if upper_limit is not None:
        ax.axvline(upper_limit, color="grey", ls=":")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("$\\mathrm{CL}_s$")
    ax.set_ylim(0, 1.05)
    ax.legend(loc="upper right")
    _label(ax, label, lumi_fb)
    _save(fig, path)


def pull_plot(path, pulls, *, param="$\\mu$", label="Open Data Simulation", bins=30):
    """Histogram of pulls with a unit Gaussian and the fitted mean and width."""
    _style()
    pulls = np.asarray(pulls, dtype=float)
    fig, ax = plt.subplots(figsize=(8, 6))
    edges = np.linspace(-5, 5, bins + 1)
    counts, _ = np.histogram(pulls, bins=edges)
    mplhep.histplot(counts, edges, yerr=np.sqrt(counts), histtype="errorbar", color="k", ax=ax, label="Pseudo-experiments")
    x = np.linspace(-5, 5, 400)
    width = np.diff(edges)[0]
    ax.plot(x, pulls.size * width * _sps.norm.pdf(x), "b--", label="N(0, 1)")
    mean, std = (float(np.mean(pulls)), float(np.std(pulls, ddof=1))) if pulls.size > 1 else (np.nan, np.nan)
    ax.plot(x, pulls.size * width * _sps.norm.pdf(x, mean, std), "r-", label=f"mean {mean:.3f}, width {std:.3f}")
    ax.set_ylim(bottom=0)
    ax.set_xlabel(f"Pull of {param}")
    ax.set_ylabel("Pseudo-experiments")
    ax.legend(loc="upper right")
    _label(ax, label)
    _save(fig, path)


def contour_plot(path, contours, best, *, xlabel="$\\mu$", ylabel="peak position [GeV]", reference=None,
                 reference_label="Reference", label="Open Data", lumi_fb=None):
    """Likelihood contours of two parameters (``contours``: ``[{"cl", "points": [[x, y], ...]}]``,
    innermost first) around the best fit ``best`` = (x, y); ``reference``: a point to mark (e.g. the SM)."""
    _style()
    fig, ax = plt.subplots(figsize=(8, 6))
    for c, style in zip(contours, ("-", "--", ":", "-.")):
        pts = np.asarray(c["points"], dtype=float)
        pts = np.vstack([pts, pts[:1]])
        ax.plot(pts[:, 0], pts[:, 1], "k" + style, lw=2, label=f"{100 * c['cl']:.0f}% CL")
    ax.plot(*best, "k+", ms=14, mew=2, label="Best fit")
    if reference is not None:
        ax.plot(*reference, "r*", ms=14, label=reference_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.margins(0.15)
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + 0.4 * (hi - lo))  # room for the legend above the contours
    ax.legend(loc="upper right")
    _label(ax, label, lumi_fb)
    _save(fig, path)


def channel_poi_plot(path, names, values, intervals, combined, *, p_value=None, xlabel="$\\mu$",
                     label="Open Data", lumi_fb=None):
    """The POI fitted per channel (points with their 68% ``intervals`` [lo, hi]) against the
    combined one (``combined`` = (value, lo, hi), a band), with the compatibility p-value."""
    _style()
    n = len(names)
    fig, ax = plt.subplots(figsize=(8, 2.0 + 0.6 * n))
    value, lo, hi = combined
    if lo is not None and hi is not None:
        ax.axvspan(lo, hi, color="lightgrey",
                   label=f"Combined: {value:.2f} $^{{+{hi - value:.2f}}}_{{-{value - lo:.2f}}}$")
    ax.axvline(value, color="k", lw=1, label=None if lo is not None and hi is not None else f"Combined: {value:.2f}")
    y = np.arange(n)[::-1]
    iv = np.array([[np.nan if e is None else e for e in pair] for pair in intervals], dtype=float)
    ax.errorbar(values, y, xerr=[np.asarray(values) - iv[:, 0], iv[:, 1] - np.asarray(values)], fmt="ko", ms=6,
                capsize=3, label="Per category (68% CL)")
    ax.set_yticks(y, names)
    ax.margins(x=0.1)
    ax.set_ylim(-0.8, n + 1.6)
    ax.set_xlabel(xlabel)
    title = "" if p_value is None else f"compatibility p = {p_value:.3g}"
    ax.legend(loc="upper right", title=title)
    _label(ax, label, lumi_fb)
    _save(fig, path)


def impact_plot(path, rows, *, poi_label="$\\mu$", label="Open Data", lumi_fb=None, max_rows=30):
    """The ranking of nuisance parameters: per row (``stats.impacts``' ``parameters``, ranked) the
    pre-fit (open) and post-fit (filled) impacts on the POI as bars on the top axis, and the pull
    (theta_hat - theta0) / sigma_prior with the constraint sigma_post / sigma_prior as points on
    the bottom axis."""
    _style()
    rows = list(rows)[:max_rows]
    n = max(len(rows), 1)
    fig, ax = plt.subplots(figsize=(9, 2.5 + 0.45 * n))
    y = np.arange(len(rows))[::-1]
    top = ax.twiny()
    for key, kwargs in (("impact_prefit", {"fill": False, "lw": 1.2}), ("impact_postfit", {"alpha": 0.6})):
        up = np.array([r[key][0] for r in rows])
        down = np.array([r[key][1] for r in rows])
        pre = key == "impact_prefit"
        top.barh(y, up, height=0.6, edgecolor="tab:blue" if pre else None, color="tab:blue",
                 label=f"{'Pre' if pre else 'Post'}-fit impact, $\\theta = \\hat\\theta + \\sigma$", **kwargs)
        top.barh(y, down, height=0.6, edgecolor="tab:red" if pre else None, color="tab:red",
                 label=f"{'Pre' if pre else 'Post'}-fit impact, $\\theta = \\hat\\theta - \\sigma$", **kwargs)
    reach = max([abs(v) for r in rows for v in (*r["impact_prefit"], *r["impact_postfit"])] or [1.0]) * 1.2
    top.set_xlim(-reach, reach)
    top.ticklabel_format(axis="x", style="plain", useOffset=False)
    top.set_xlabel(f"$\\Delta${poi_label}")
    ax.set_zorder(top.get_zorder() + 1)  # the pulls in front of the bars
    ax.patch.set_visible(False)
    ax.errorbar([r["pull"] for r in rows], y, xerr=[r["constraint"] for r in rows], fmt="ko", ms=5, capsize=2,
                label="Pull")
    ax.set_xlim(-2.5, 2.5)
    for v in (-1, 1):
        ax.axvline(v, color="grey", ls=":")
    ax.axvline(0, color="grey")
    ax.set_xlabel("$(\\hat\\theta - \\theta_0) / \\sigma_\\mathrm{prior}$")
    ax.set_yticks(y, [r["param"] for r in rows])
    ax.set_ylim(-1, n + 1.5)
    handles = top.get_legend_handles_labels()[0] + ax.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.5 / n), fontsize="small", ncol=2)
    if not rows:
        ax.text(0.5, 0.5, "no constrained parameters", transform=ax.transAxes, ha="center")
    _label(ax, label, lumi_fb, loc=4)
    _save(fig, path)


def note_plot(path, text: str):
    """A figure that only says ``text``: the place of a plot that has nothing to show."""
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    _save(fig, path)
