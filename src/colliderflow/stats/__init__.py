"""Statistics: shapes, unbinned fits (iminuit), binned models (pyhf), significance, limits, scans.

Nothing here knows about a particular analysis. The public API (stable):

``shapes``
    ``get_shape(name, lo, hi) -> Shape`` (``dscb gauss voigt crystalball exponential powerlaw
    bernstein:N exppoly:N``); ``Shape.params``, ``.density(x, *values)``, ``.density_from(x, dict)``,
    ``.cdf(x, dict)``, ``.bin_integrals(edges, dict)``, ``.sample(rng, n, dict)``, ``.start(x, w)``,
    ``.limits``.
``unbinned``
    ``fit_shape(shape, x, weights) -> FitResult`` (signal MC; sandwich errors for weights);
    ``category_spec(categories, mass_floating=..., ...) -> spec`` and
    ``single_channel_spec(signal, background, lo, hi, ...) -> spec``; ``Model(spec)``;
    ``fit(model, data, start=, fix=, errors=) -> FitResult``;
    ``profile_scan(model, data, param, values) -> dict`` (intervals 68/95);
    ``discovery(model, data) -> {"q0", "p0", "Z", ...}``;
    ``asimov_data(model, values)``, ``expected_significance(model, values) -> {"q0", "p0", "Z"}``;
    ``p0_scan(model, data, masses, expected_values=) -> dict``;
    ``generate(model, values, rng)``, ``pull_study(model, values, n_toys) -> dict``.
    Data: ``{channel: x | (x, w) | ChannelData}``.
``background_choice``
    ``binned_points(x, w, lo, hi, bin_width)``, ``template_from_function(...)``,
    ``choose_background(template, candidates, signal_shape, signal_params, expected_signal,
    lo, hi, mass_points, criteria=, ftest_threshold=, ftest_data=, blind=) -> dict``.
``binned``
    ``histogram(x, w, edges)``, ``make_edges(lo, hi, width)``,
    ``build_workspace(channels, signal_normsys=, poi_bounds=) -> dict`` (HistFactory JSON),
    ``limits(workspace, poi_value=, scan=, level=) -> dict``.
``significance``
    ``asimov_z(s, b)``, ``z_curve(...)``, ``sideband_transfer_factor(...)``,
    ``counting_q0(n, b)``.
``settings``
    ``fit_settings(cfg) -> dict`` (the ``fit`` config section with defaults), ``grid(spec)``.
``plots``
    ``fit_plot``, ``likelihood_scan_plot``, ``p0_plot``, ``limit_band_plot``, ``pull_plot``.
``cli``
    ``colliderflow fit``, ``colliderflow limit``, ``colliderflow validate-fit``.
"""
