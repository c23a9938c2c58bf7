"""Statistics: shapes, unbinned fits (iminuit), binned models (pyhf), significance, limits, scans.

A pure library: no command line, no config reading, nothing that knows about a particular
analysis (the commands on top are ``colliderflow.inference``, ``inference.standalone`` for
``colliderflow fit``/``limit``/``validate-fit``). The public API (stable):

``shapes``
    ``get_shape(name, lo, hi) -> Shape`` (``dscb gauss voigt crystalball exponential powerlaw
    threshold bernstein:N exppoly:N``, and ``A+B`` sums of two signal or two background shapes);
    ``Shape.params``, ``.density(x, *values)``, ``.density_from(x, dict)``, ``.cdf(x, dict)``,
    ``.bin_integrals(edges, dict)``, ``.sample(rng, n, dict)``, ``.start(x, w)``, ``.limits``,
    ``.widths``.
``model``
    ``Model(spec)``, ``category_spec(categories, mass_value=, mass_floating=, systematics=,
    poi_per_mode=, ...) -> spec``, ``Expression``; ``Model.constraints()``: the nuisance parameters,
    ``single_channel_spec(signal, background, lo, hi, ...) -> spec``; ``ChannelData``,
    ``as_data(model, data)``. Data: ``{channel: x | (x, w) | ChannelData}``.
``cost``
    ``ModelCost(model, data)``: -2 ln L as a sum of ``iminuit.cost.ExtendedUnbinnedNLL``
    (``WeightedExtendedUnbinnedNLL`` for weighted events) and one ``NormalConstraint``,
    offset to 0 at a minimum for Minuit (``offset_at``);
    ``sandwich_covariance`` (errors of weighted fits).
``fit``
    ``fit(model, data, start=, fix=, errors=) -> FitResult``;
    ``fit_shape(shape, x, weights) -> FitResult`` (signal MC; sandwich errors for weights);
    ``profile_scan(model, data, param, values) -> dict`` (intervals 68/95), ``crossings``;
    ``stat_syst_split(model, data, best, params) -> dict``, ``correlations(result, params)``;
    ``grid({lo, hi, step})``.
``intervals``
    ``minos(model, data, params, best=) -> {param: {"intervals", "levels", "valid"}}``,
    ``contour(model, data, x, y, best=) -> {"contours": [{"level", "cl", "points"}]}`` (mncontour),
    ``per_channel_spec(model)``, ``channel_compatibility(model, data, best=) -> {"channels", "q", "ndf",
    "p_value"}``; ``LEVEL_2D_68``, ``LEVEL_2D_95``.
``impacts``
    ``impacts(model, data, best=) -> {"parameters": [{"param", "pull", "constraint", "impact_prefit",
    "impact_postfit"}]}`` of the Gaussian-constrained parameters, ranked.
``hypotest``
    ``discovery(model, data) -> {"q0", "p0", "Z", ...}``;
    ``asimov_data(model, values)``, ``expected_significance(model, values) -> {"q0", "p0", "Z"}``;
    ``p0_scan(model, data, masses, expected_values=) -> dict``.
``toys``
    ``generate(model, values, rng)``, ``pull_study(model, values, n_toys, params=) -> dict``.
``background_choice``
    ``binned_points(x, w, lo, hi, bin_width)``, ``template_from_function(...)``,
    ``binned_chi2_fit(x, w, background, lo, hi, bin_width, blind, weights_squared=)`` (``iminuit.cost.ExtendedBinnedNLL``
    with sums of weights and of squared weights for weighted samples),
    ``choose_background(template, candidates, signal_shape, signal_params, expected_signal,
    lo, hi, mass_points, criteria=, ftest_threshold=, ftest_data=, blind=) -> dict``.
``binned``
    ``histogram(x, w, edges)``, ``make_edges(lo, hi, width)``,
    ``build_workspace(channels, systematics=, mode_pois=, poi_bounds=) -> dict`` (HistFactory JSON),
    ``limits(workspace, poi_value=, scan=, level=) -> dict``.
``significance``
    ``asimov_z(s, b)``, ``z_curve(...)``, ``sideband_transfer_factor(...)``,
    ``counting_q0(n, b)``.
``plots``
    ``fit_plot``, ``likelihood_scan_plot``, ``p0_plot``, ``limit_band_plot``, ``pull_plot``,
    ``contour_plot``, ``channel_poi_plot``, ``impact_plot``, ``note_plot``.
"""
