"""The contour and impacts commands when the fit was not made: a plain statement and a placeholder plot."""

from colliderflow.inference.studies import mu_mass_contour, nuisance_impacts

NOT_FITTED = {"model_name": "bdt", "fitted": False, "reason": "3 data event(s), fewer than fit.min_data_events = 10"}


def test_without_a_fit_the_studies_say_why(tmp_path):
    contour = mu_mass_contour(NOT_FITTED, None, "$m_H$", "GeV", True, 36.1, tmp_path / "contour.png", 10)
    impacts = nuisance_impacts(NOT_FITTED, None, True, 36.1, tmp_path / "impacts.png")
    for out, name in ((contour, "contour"), (impacts, "impacts")):
        assert out["fitted"] is False and "3 data event(s)" in out["reason"] and out["model"] == "bdt"
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
