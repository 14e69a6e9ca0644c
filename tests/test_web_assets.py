"""The console's browser assets ship inside the package: an installed healthdeck serves them with no CDN."""

from __future__ import annotations

from importlib.resources import files

VENDOR = ("uplot-1.6.32.iife.min.js", "uplot-1.6.32.min.css", "uplot-1.6.32.LICENSE", "README.md")


def test_the_installed_package_holds_the_vendored_chart_library_and_its_licence() -> None:
    vendor = files("healthdeck.web") / "static" / "vendor"
    missing = [name for name in VENDOR if not (vendor / name).is_file()]
    assert not missing, f"the package lacks {missing}"
    banner = (vendor / "uplot-1.6.32.iife.min.js").read_text()[:60]
    assert "uPlot (v1.6.32)" in banner, banner
    assert "MIT License" in (vendor / "uplot-1.6.32.LICENSE").read_text()
