"""The statistical model of the unbinned fits: a JSON-able *spec*, the ``Model`` built from it,
and the data it is fitted to (``ChannelData``, ``as_data``).

A spec is a dict, so that a fitted model can be written to disk, read back, and re-used for
pseudo-experiments (``colliderflow validate-fit``):

.. code-block:: python

    {"poi": "mu",
     "parameters": {"mu":   {"value": 1.0, "limits": [-20, 20], "fixed": False},
                    "mass": {"value": 125.0, "limits": [110, 150], "fixed": True},
                    "nbkg_cat0": {"value": None, "limits": [0, None]},      # None: from data
                    "slope_cat0": {"value": None},
                    "theta_ss_cat0": {"value": 0.0, "constraint": {"mean": 0.0, "sigma": 1.0}}},
     "channels": [{"name": "cat0", "range": [105, 160],
                   "signal": {"shape": "dscb",
                              "params": {"mass": {"param": "mass", "offset": 0.1}, "sigma": 1.7, ...},
                              "yield": {"scale": 120.0, "factors": ["mu"], "add": {"theta_ss_cat0": 4.0}}},
                   "background": {"shape": "exponential", "params": {"slope": "slope_cat0"},
                                  "yield": "nbkg_cat0"}}]}

Shape parameters and yields are ``Expression`` objects: a number (a constant), a parameter name, a
term dict, or a list of terms (their sum, e.g. a signal yield per production mode). A term is
``(scale * product(factors) + offset + sum(c * p for add)) * product(1 + delta * p for
relative) * product(kappa ** p for lognormal)``; ``{"param": name, "scale": k, "offset": d}``
is k * param + d. ``relative`` is a linear response (a peak position or width that a
nuisance parameter shifts), ``lognormal`` a yield uncertainty as HistFactory's normsys
(kappa ** theta). Parameters with a ``constraint`` get a Gaussian penalty: they are the
nuisance parameters of the systematic uncertainties (``Model.constraints()`` lists them).
``category_spec`` and ``single_channel_spec`` build the two common specs.

Data: ``{channel: x | (x, w) | ChannelData}``; a bare array or pair for a one-channel model.
The likelihood is in ``cost``, the fits in ``fit``. Nothing here knows about a particular
analysis.
"""

from __future__ import annotations

import copy
import math
from typing import Callable, Mapping, NamedTuple

import numpy as np

from .shapes import Shape, get_shape

class ChannelData(NamedTuple):
    """Events of one channel: values ``x``, weights ``w`` (None: unweighted), Asimov flag.

    ``w2``: for binned weighted points (a histogram of weighted MC given as points at the
    bin centres), the sum of squared weights of each point, used by the sandwich errors in
    place of ``w**2``.
    """

    x: np.ndarray
    w: np.ndarray | None = None
    asimov: bool = False
    w2: np.ndarray | None = None

    def sum_of_weights(self) -> float:
        """The number of events, or their sum of weights."""
        return float(self.x.size if self.w is None else self.w.sum())



class _Term(NamedTuple):
    """One product term of an expression (see the module docstring), parsed once."""

    scale: float
    factors: tuple
    offset: float
    add: tuple  # ((name, coefficient), ...)
    relative: tuple  # ((name, delta), ...): factor 1 + delta * param
    lognormal: tuple  # ((name, kappa), ...): factor kappa ** param

    def refs(self) -> list[str]:
        return [*self.factors, *(n for n, _ in self.add), *(n for n, _ in self.relative),
                *(n for n, _ in self.lognormal)]


_TERM_KEYS = {"param", "scale", "factors", "offset", "add", "relative", "lognormal"}


def _parse_term(term) -> _Term:
    if isinstance(term, str):
        return _Term(1.0, (term,), 0.0, (), (), ())
    if not isinstance(term, Mapping):
        return _Term(float(term), (), 0.0, (), (), ())
    unknown = set(term) - _TERM_KEYS
    if unknown:
        raise KeyError(f"expression {dict(term)!r}: unknown key(s) {sorted(unknown)}; the keys are {sorted(_TERM_KEYS)}")
    factors = ([term["param"]] if "param" in term else []) + list(term.get("factors", []))
    for key in ("relative", "lognormal"):
        bad = {n: v for n, v in term.get(key, {}).items() if not math.isfinite(float(v))
               or (key == "lognormal" and float(v) <= 0)}
        if bad:
            raise ValueError(f"expression {dict(term)!r}: {key} needs finite{' positive' if key == 'lognormal' else ''} "
                             f"sizes; got {bad}")
    return _Term(float(term.get("scale", 1.0)), tuple(str(n) for n in factors), float(term.get("offset", 0.0)),
                 tuple((str(n), float(c)) for n, c in term.get("add", {}).items()),
                 tuple((str(n), float(d)) for n, d in term.get("relative", {}).items()),
                 tuple((str(n), float(k)) for n, k in term.get("lognormal", {}).items()))


class Expression:
    """A shape-parameter or yield expression: a number, a parameter name, a term dict, or a
    list of those (their sum). A term is
    ``(scale * prod(factors) + offset + sum(c * p)) * prod(1 + delta * p) * prod(kappa ** p)``
    with keys ``scale``, ``factors`` (``param``: one factor), ``offset``, ``add`` {name: c},
    ``relative`` {name: delta} (a linear response, e.g. a shifted peak position) and
    ``lognormal`` {name: kappa} (a yield uncertainty, HistFactory's normsys: kappa ** theta)."""

    def __init__(self, mapping):
        self.mapping = mapping
        self.terms = [_parse_term(t) for t in (mapping if isinstance(mapping, list) else [mapping])]

    def refs(self) -> set:
        return {n for t in self.terms for n in t.refs()}

    def evaluate(self, values: Mapping) -> float:
        """The value for parameter values by name (only the referenced ones are read)."""
        names = sorted(self.refs())
        return self.compiled(names)([float(values[n]) for n in names])

    def compiled(self, names: list) -> Callable:
        """A fast ``f(parameter array in names order) -> float``."""
        index = {n: i for i, n in enumerate(names)}
        parsed = [(t.scale, [index[n] for n in t.factors], t.offset, [(index[n], c) for n, c in t.add],
                   [(index[n], d) for n, d in t.relative], [(index[n], k) for n, k in t.lognormal])
                  for t in self.terms]
        if len(parsed) == 1 and not any(parsed[0][2:]):
            scale, factors = parsed[0][:2]
            if not factors:
                return lambda p: scale
            if len(factors) == 1 and scale == 1.0:
                i = factors[0]
                return lambda p: p[i]

        def value(p):
            total = 0.0
            for scale, factors, offset, adds, relative, lognormal in parsed:
                out = scale
                for i in factors:
                    out *= p[i]
                out += offset
                for i, c in adds:
                    out += c * p[i]
                for i, d in relative:
                    out *= 1.0 + d * p[i]
                for i, k in lognormal:
                    out *= k ** p[i]
                total += out
            return total

        return value


class Component:
    """The signal or background of one channel: a shape with its parameter and yield expressions."""

    def __init__(self, spec: dict, lo: float, hi: float, where: str):
        self.shape: Shape = get_shape(spec["shape"], lo, hi)
        self.param_map = dict(spec.get("params", {}))
        self.param_expr = {p: Expression(m) for p, m in self.param_map.items()}
        unknown = [p for p in self.param_map if p not in self.shape.params]
        if unknown:
            raise KeyError(f"{where}: shape {self.shape.name!r} has no parameter(s) {unknown}; "
                           f"its parameters are {list(self.shape.params)}")
        missing = [p for p in self.shape.params if p not in self.param_map]
        if missing:
            raise KeyError(f"{where}: shape {self.shape.name!r} parameter(s) {missing} are not mapped")
        self.yield_map = spec.get("yield", 0.0)
        self.yield_expr = Expression(self.yield_map)

    def shape_values(self, values) -> tuple:
        return tuple(self.param_expr[p].evaluate(values) for p in self.shape.params)

    def shape_dict(self, values) -> dict:
        return dict(zip(self.shape.params, self.shape_values(values)))

    def yield_(self, values) -> float:
        return self.yield_expr.evaluate(values)

    def refs(self) -> set:
        """Parameters of the shape expressions."""
        return set().union(*(e.refs() for e in self.param_expr.values()))


class Channel:
    """One channel of a model: a range and a signal and/or background ``Component``."""

    def __init__(self, spec: dict):
        self.name = str(spec["name"])
        lo, hi = (float(v) for v in spec["range"])
        self.lo, self.hi = lo, hi
        self.signal = Component(spec["signal"], lo, hi, f"channel {self.name!r} signal") if spec.get("signal") else None
        self.background = (Component(spec["background"], lo, hi, f"channel {self.name!r} background")
                           if spec.get("background") else None)
        if self.signal is None and self.background is None:
            raise ValueError(f"channel {self.name!r} has neither a signal nor a background component")

    @property
    def components(self):
        return [c for c in (self.signal, self.background) if c is not None]


class Model:
    """An extended multi-channel S+B model built from a spec (see the module docstring).

    Attributes: ``spec`` (a deep copy), ``poi``, ``names`` (all parameter names, spec order),
    ``channels`` (channel names; ``channel(name)`` gives the ``Channel``). The model holds
    no data: every method takes the data.
    """

    def __init__(self, spec: dict):
        self.spec = copy.deepcopy(spec)
        params = self.spec.get("parameters", {})
        self.names = list(params)
        self.poi = self.spec.get("poi")
        self._channels = [Channel(c) for c in self.spec.get("channels", [])]
        if not self._channels:
            raise ValueError("model has no channels")
        names = [c.name for c in self._channels]
        if len(set(names)) != len(names):
            raise ValueError(f"channel names must be unique; got {names}")
        used = set()
        for ch in self._channels:
            for comp in ch.components:
                used |= comp.refs() | comp.yield_expr.refs()
        undefined = sorted(used - set(self.names))
        if undefined:
            raise KeyError(f"model refers to undefined parameter(s) {undefined}")
        if self.poi is not None and self.poi not in self.names:
            raise KeyError(f"parameter of interest {self.poi!r} is not a model parameter")

    # ---- parameters ------------------------------------------------------------------
    @property
    def channels(self) -> list[str]:
        return [c.name for c in self._channels]

    def channel_range(self, name: str) -> tuple[float, float]:
        ch = self.channel(name)
        return ch.lo, ch.hi

    def channel(self, name: str) -> Channel:
        for ch in self._channels:
            if ch.name == name:
                return ch
        raise KeyError(f"no channel {name!r}; channels: {self.channels}")

    def check_names(self, names, what: str) -> None:
        """KeyError naming ``what`` and the unknown names if some of ``names`` are no parameters."""
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise KeyError(f"{what}: unknown parameter(s) {unknown}; the model's parameters are {self.names}")

    def _pspec(self, name) -> dict:
        return self.spec["parameters"][name]

    def limits(self, name) -> tuple[float, float]:
        lim = self._pspec(name).get("limits") or [None, None]
        lo = -np.inf if lim[0] is None else float(lim[0])
        hi = np.inf if lim[1] is None else float(lim[1])
        return lo, hi

    def is_fixed(self, name) -> bool:
        return bool(self._pspec(name).get("fixed", False))

    def values(self) -> dict:
        """Parameter values stored in the spec (None where they are to be taken from data)."""
        return {n: self._pspec(n).get("value") for n in self.names}

    def constraints(self) -> dict:
        """``{name: (mean, sigma)}`` for the Gaussian-constrained parameters."""
        out = {}
        for n in self.names:
            c = self._pspec(n).get("constraint")
            if c:
                out[n] = (float(c.get("mean", 0.0)), float(c.get("sigma", 1.0)))
        return out

    def with_constraint_means(self, means: Mapping) -> "Model":
        """A copy whose Gaussian constraints are centred on ``means`` (the global observables:
        pseudo-experiments draw them around the true values)."""
        spec = copy.deepcopy(self.spec)
        for n, v in means.items():
            spec["parameters"][n]["constraint"]["mean"] = float(v)
        return Model(spec)

    def with_values(self, values: Mapping, fixed: Mapping | None = None) -> "Model":
        """A copy whose stored parameter values (and optionally fixed flags) are replaced."""
        spec = copy.deepcopy(self.spec)
        for n, v in values.items():
            if n in spec["parameters"]:
                spec["parameters"][n]["value"] = None if v is None else float(v)
        for n, f in (fixed or {}).items():
            spec["parameters"][n]["fixed"] = bool(f)
        return Model(spec)

    def signal_vanishes_at_zero_poi(self) -> bool:
        """True if every term of every channel's signal yield is proportional to the POI (no
        additive terms such as a spurious-signal nuisance), so that at poi = 0 there is no
        signal at all."""
        return all(self.poi in term.factors and not term.offset and not term.add
                   for ch in self._channels if ch.signal is not None for term in ch.signal.yield_expr.terms)

    def signal_only_params(self) -> list[str]:
        """Parameters that enter only through signal shapes (undefined when the signal vanishes)."""
        sig, other = set(), set()
        for ch in self._channels:
            if ch.signal is not None:
                sig |= ch.signal.refs()
                other |= ch.signal.yield_expr.refs()
            if ch.background is not None:
                other |= ch.background.refs() | ch.background.yield_expr.refs()
        return [n for n in self.names if n in sig and n not in other]

    def channel_params(self, channel: str) -> set:
        """Names of the parameters that the shapes and yields of ``channel`` depend on."""
        ch = self.channel(channel)
        out = set()
        for comp in ch.components:
            out |= comp.refs() | comp.yield_expr.refs()
        return out

    # ---- evaluation ------------------------------------------------------------------
    def yields(self, values: Mapping) -> dict:
        """``{channel: {"signal": nu_s, "background": nu_b}}`` for given parameter values."""
        out = {}
        for ch in self._channels:
            out[ch.name] = {
                "signal": ch.signal.yield_(values) if ch.signal else 0.0,
                "background": ch.background.yield_(values) if ch.background else 0.0,
            }
        return out

    def component_params(self, values: Mapping) -> dict:
        """``{channel: {"signal": {shape params}, "background": {shape params}}}``."""
        out = {}
        for ch in self._channels:
            out[ch.name] = {
                "signal": ch.signal.shape_dict(values) if ch.signal else None,
                "background": ch.background.shape_dict(values) if ch.background else None,
            }
        return out

    def densities(self, channel: str, x, values: Mapping) -> dict:
        """Yield-scaled densities ``{"signal": nu_s f_s(x), "background": nu_b f_b(x)}`` (events / unit x)."""
        ch = self.channel(channel)
        x = np.asarray(x, dtype=float)
        out = {}
        for key, comp in (("signal", ch.signal), ("background", ch.background)):
            out[key] = (comp.yield_(values) * comp.shape.density(x, *comp.shape_values(values))
                        if comp is not None else np.zeros_like(x))
        return out

    def expected_counts(self, channel: str, edges, values: Mapping) -> dict:
        """Expected events per bin, ``{"signal": ..., "background": ...}``, by exact bin integrals."""
        ch = self.channel(channel)
        edges = np.asarray(edges, dtype=float)
        out = {}
        for key, comp in (("signal", ch.signal), ("background", ch.background)):
            out[key] = (comp.yield_(values) * comp.shape.bin_integrals(edges, comp.shape_dict(values))
                        if comp is not None else np.zeros(len(edges) - 1))
        return out

    def to_spec(self) -> dict:
        return copy.deepcopy(self.spec)




def as_data(model: Model, data) -> dict:
    """Normalise ``data`` to ``{channel: ChannelData}`` keeping only events inside each range.

    ``data`` maps a channel name to an array of values, an ``(x, w)`` pair or a ChannelData;
    a bare array or pair is accepted for a one-channel model.
    """
    if not isinstance(data, Mapping):
        if len(model.channels) != 1:
            raise ValueError(f"data for a {len(model.channels)}-channel model must be a dict by channel name")
        data = {model.channels[0]: data}
    missing = [c for c in model.channels if c not in data]
    if missing:
        raise KeyError(f"no data for channel(s) {missing}")
    out = {}
    for name in model.channels:
        item = data[name]
        w2 = None
        if isinstance(item, ChannelData):
            x, w, asimov, w2 = item
        elif isinstance(item, tuple):
            x, w = item
            asimov = False
        else:
            x, w, asimov = item, None, False
        x = np.asarray(x, dtype=float)
        lo, hi = model.channel_range(name)
        if w is not None:
            w = np.asarray(w, dtype=float)
            if w.shape != x.shape:
                raise ValueError(f"channel {name!r}: {w.size} weights for {x.size} events")
        inside = (x >= lo) & (x <= hi) & np.isfinite(x)
        if w is not None:
            inside &= np.isfinite(w)
            w = w[inside]
            if w2 is not None:
                w2 = np.asarray(w2, dtype=float)[inside]
            elif not asimov and np.all(w == 1.0):
                w = None
        out[name] = ChannelData(x[inside], w, asimov, w2)
    return out



def single_channel_spec(signal: str | None, background: str | None, lo: float, hi: float, *,
                        start: Mapping | None = None, fixed: list | None = None,
                        poi: str = "signal_yield", limits: Mapping | None = None) -> dict:
    """Spec of a one-channel S+B fit with the public names of ``colliderflow fit``.

    Parameters: ``signal_yield`` (the POI, unbounded so it can go negative),
    ``background_yield`` (>= 0), the signal shape's parameters (``mass``, ``sigma``, ...)
    and the background shape's (``slope``, ``power``, ``b1``.., ``a1``..). ``start`` gives
    starting values (others come from the data), ``fixed`` names fixed parameters.
    """
    params: dict = {}
    channel = {"name": "fit", "range": [float(lo), float(hi)]}
    if signal is not None:
        s = get_shape(signal, lo, hi)
        channel["signal"] = {"shape": s.name, "params": {p: p for p in s.params}, "yield": poi}
        params[poi] = {"value": None, "limits": [None, None]}
        for p in s.params:
            params[p] = {"value": None, "limits": list(s.limits[p]) if p in s.limits else None}
    if background is not None:
        b = get_shape(background, lo, hi)
        channel["background"] = {"shape": b.name, "params": {p: p for p in b.params}, "yield": "background_yield"}
        params["background_yield"] = {"value": None, "limits": [0.0, None]}
        for p in b.params:
            if p in params:
                raise ValueError(f"signal and background shapes share the parameter name {p!r}")
            params[p] = {"value": None, "limits": list(b.limits[p]) if p in b.limits else None}
    spec = {"poi": poi if signal is not None else None, "parameters": params, "channels": [channel]}
    for n, v in (start or {}).items():
        if n not in params:
            raise KeyError(f"unknown parameter {n!r}; this fit's parameters are {list(params)}")
        params[n]["value"] = float(v)
    for n, lim in (limits or {}).items():
        if n not in params:
            raise KeyError(f"unknown parameter {n!r}; this fit's parameters are {list(params)}")
        params[n]["limits"] = list(lim)
    for n in fixed or []:
        if n not in params:
            raise KeyError(f"cannot fix {n!r}: this fit's parameters are {list(params)}")
        params[n]["fixed"] = True
    return spec


SYSTEMATIC_EFFECTS = ("yield", "position", "width")


def _check_systematics(systematics, modes: list[str], taken: set) -> list[dict]:
    """The systematics of ``category_spec`` with size > 0, checked (ValueError naming the entry)."""
    out, names = [], set()
    for entry in systematics:
        name, effect, size = str(entry.get("name", "")), entry.get("effect"), float(entry.get("size", float("nan")))
        where = f"systematic {entry!r}"
        if not name or name in names or name in taken:
            raise ValueError(f"{where}: needs a unique name that is no other parameter's")
        if effect not in SYSTEMATIC_EFFECTS:
            raise ValueError(f"{where}: effect must be one of {list(SYSTEMATIC_EFFECTS)}")
        if not (math.isfinite(size) and 0 <= size < 1):
            raise ValueError(f"{where}: size must be a relative uncertainty in [0, 1)")
        unknown = [m for m in entry.get("modes") or [] if m not in modes]
        if unknown:
            raise ValueError(f"{where}: mode(s) {unknown} have no signal yield in any category; modes: {modes}")
        if entry.get("modes") and effect != "yield":
            raise ValueError(f"{where}: only a yield systematic can be restricted to some modes")
        names.add(name)
        if size > 0:
            out.append({"name": name, "effect": effect, "size": size, "modes": list(entry.get("modes") or [])})
    return out


def category_spec(categories: list[dict], *, mass_value: float, poi: str = "mu", mass_param: str = "mass",
                  mass_floating: bool = False, mass_limits=None, reference_mass: float | None = None,
                  mu_limits=(-20.0, 20.0), mu_start: float = 1.0, width_floating: bool = False,
                  width_param: str = "width_scale", width_limits=(0.5, 2.0), systematics=(),
                  poi_per_mode: bool = False) -> dict:
    """Spec of the simultaneous multi-category fit: common ``mu`` and ``mass``, per-category background.

    Each category is a dict:
      ``name``, ``range`` [lo, hi],
      ``signal``: ``{"shape": "dscb", "params": {fitted shape values incl. "mass"}, "yield": s}``
        with ``s`` the expected signal yield at mu = 1, a number or ``{mode: yield}`` (the
        yield of each production mode),
      ``background``: ``{"shape": "bernstein:3", "params": {optional start values},
        "yield": optional start}``,
      ``spurious`` (optional): spurious-signal yield S_spur; adds a nuisance
        ``theta_ss_<name>`` with a unit Gaussian constraint and signal yield
        mu s + theta S_spur (the ATLAS treatment); None or 0: no nuisance; a negative or
        non-finite value raises ValueError naming the category.

    Signal shapes are fixed to the given values except their position: the peak of category
    c sits at ``mass + (params["mass"] - reference_mass)`` so each category keeps its fitted
    offset from the generated mass (``reference_mass``, default ``mass_value``) while the
    common ``mass`` moves all peaks together (fixed unless ``mass_floating``, within
    ``mass_limits``, default the span of the categories' ranges). The expected yield does not
    change with ``mass``. With ``width_floating`` every category's ``sigma`` (each of the
    shape's ``widths``) is its fitted value times a common free ``width_scale`` (within ``width_limits``): the data measure the
    resolution, the MC keeps the tails and the categories' relative widths.

    ``systematics``: ``[{"name", "effect", "size", "modes"}]``, each a nuisance parameter
    ``name`` with a unit Gaussian constraint, common to all categories; ``size`` is a
    relative uncertainty (0: left out). ``effect``: ``yield`` multiplies the signal yield of
    the ``modes`` (default all) by (1 + size) ** theta (HistFactory's normsys);
    ``position`` moves every peak to peak * (1 + size * theta) (an energy scale);
    ``width`` scales every width of the signal shapes by (1 + size * theta) (a resolution).
    ``poi_per_mode``: one signal strength ``<poi>_<mode>`` per mode in place of ``poi``
    (the spec's POI is the first mode's); every category's yield must then be by mode.

    Parameter names: ``mu`` (or ``mu_<mode>``), ``mass``, ``width_scale`` (only when
    floating), the systematics' names, and per category ``nbkg_<name>``,
    ``<bkgparam>_<name>`` (e.g. ``slope_cat0``, ``b2_cat1``), ``theta_ss_<name>``.
    """
    ref = float(mass_value if reference_mass is None else reference_mass)
    if mass_limits is None:
        mass_limits = (min(float(c["range"][0]) for c in categories), max(float(c["range"][1]) for c in categories))
    modes: list[str] = []
    for cat in categories:
        y = cat["signal"]["yield"]
        if isinstance(y, Mapping):
            modes += [str(m) for m in y if str(m) not in modes]
        elif poi_per_mode:
            raise ValueError(f"category {cat['name']!r}: a signal strength per mode needs the signal yield by mode")
    pois = {m: f"{poi}_{m}" for m in modes} if poi_per_mode else {}
    mu_param = {"value": float(mu_start), "limits": list(mu_limits) if mu_limits else None}
    params: dict = {name: dict(mu_param) for name in (pois.values() if poi_per_mode else [poi])}
    params[mass_param] = {"value": float(mass_value), "limits": list(mass_limits), "fixed": not mass_floating}
    if width_floating:
        params[width_param] = {"value": 1.0, "limits": list(width_limits)}
    systematics = _check_systematics(systematics, modes, set(params))
    for syst in systematics:
        params[syst["name"]] = {"value": 0.0, "limits": [-5.0, 5.0], "constraint": {"mean": 0.0, "sigma": 1.0}}
    relative = {effect: {s["name"]: s["size"] for s in systematics if s["effect"] == effect}
                for effect in ("position", "width")}
    channels = []
    for cat in categories:
        name = str(cat["name"])
        lo, hi = (float(v) for v in cat["range"])
        sig = cat["signal"]
        sshape = get_shape(sig["shape"], lo, hi)
        missing = [p for p in sshape.params if p not in sig.get("params", {})]
        if missing:
            raise KeyError(f"category {name!r}: signal shape {sshape.name!r} needs parameter(s) {missing}")
        smap = {p: float(sig["params"][p]) for p in sshape.params}
        smap["mass"] = {"param": mass_param, "offset": float(sig["params"]["mass"]) - ref}
        if relative["position"]:
            smap["mass"]["relative"] = relative["position"]
        if width_floating or relative["width"]:
            for width in sshape.widths:
                smap[width] = {"scale": float(sig["params"][width]), "factors": [width_param] if width_floating else [],
                               **({"relative": relative["width"]} if relative["width"] else {})}
        by_mode = sig["yield"] if isinstance(sig["yield"], Mapping) else {None: sig["yield"]}
        syield: list = []
        for mode, s in by_mode.items():
            term: dict = {"scale": float(s), "factors": [pois[mode] if poi_per_mode else poi]}
            kappas = {y["name"]: 1.0 + y["size"] for y in systematics
                      if y["effect"] == "yield" and (not y["modes"] or mode in y["modes"])}
            if kappas:
                term["lognormal"] = kappas
            syield.append(term)
        if cat.get("spurious") not in (None, 0, 0.0):
            width = float(cat["spurious"])
            if not (math.isfinite(width) and width > 0):
                raise ValueError(f"category {name!r}: the spurious-signal nuisance theta_ss_{name} needs a positive, "
                                 f"finite width (S_spur in events); got {cat['spurious']!r}. A failed spurious-signal "
                                 f"test must not set it; give None or 0 to leave the nuisance out")
            theta = f"theta_ss_{name}"
            params[theta] = {"value": 0.0, "limits": [-5.0, 5.0], "constraint": {"mean": 0.0, "sigma": 1.0}}
            syield.append({"scale": width, "factors": [theta]})
        bkg = cat["background"]
        bshape = get_shape(bkg["shape"], lo, hi)
        bmap = {}
        for p in bshape.params:
            pname = f"{p}_{name}"
            start = (bkg.get("params") or {}).get(p)
            params[pname] = {"value": None if start is None else float(start),
                             "limits": list(bshape.limits[p]) if p in bshape.limits else None}
            bmap[p] = pname
        nb = f"nbkg_{name}"
        params[nb] = {"value": None if bkg.get("yield") is None else float(bkg["yield"]), "limits": [0.0, None]}
        channels.append({
            "name": name, "range": [lo, hi],
            "signal": {"shape": sshape.name, "params": smap, "yield": syield[0] if len(syield) == 1 else syield},
            "background": {"shape": bshape.name, "params": bmap, "yield": nb},
        })
    return {"poi": next(iter(pois.values())) if poi_per_mode else poi, "parameters": params, "channels": channels}
