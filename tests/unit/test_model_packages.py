"""`pkg:NAME` loads only packages a distribution declares in the entry-point group lmforge.models: a name from a
params file or a --set never imports an arbitrary module."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tasks.core.model_packages import GROUP, resolve_package


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A tiny distribution on sys.path (a .dist-info with entry_points.txt, as pip would leave it), declaring
    `tiny_model`, and a module `rogue_module` that no distribution declares; both record being imported."""
    site = tmp_path / "site"
    (site / "tiny_model_pkg").mkdir(parents=True)
    (site / "tiny_model_pkg" / "__init__.py").write_text(
        "from pathlib import Path\nIMPORTED = True\n"
        "def get_model_path():\n    return Path(__file__).parent / 'model'\n")
    (site / "rogue_module.py").write_text("import builtins\nbuiltins.ROGUE_IMPORTED = True\n")
    info = site / "tiny_model_pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-model-pkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\ntiny_model = tiny_model_pkg:get_model_path\n"
                                           "tiny_module = tiny_model_pkg\n")
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in ("tiny_model_pkg", "rogue_module"):
        sys.modules.pop(name, None)


def test_a_declared_model_package_resolves_to_the_folder_it_ships(installed):
    assert resolve_package("pkg:tiny_model") == str(installed / "tiny_model_pkg" / "model")
    assert resolve_package("pkg:tiny_module") == str(installed / "tiny_model_pkg" / "model")  # a module: its function
    assert resolve_package("some/hub-id") == "some/hub-id" and resolve_package(None) is None


def test_an_undeclared_name_is_refused_in_one_sentence_and_never_imported(installed):
    import builtins

    with pytest.raises(ValueError) as refused:
        resolve_package("pkg:rogue_module")
    message = str(refused.value)
    assert message.startswith("pkg:rogue_module: no installed distribution declares a model package 'rogue_module'")
    assert f'[project.entry-points."{GROUP}"] rogue_module = "MODULE:get_model_path"' in message
    assert "rogue_module" not in sys.modules and not hasattr(builtins, "ROGUE_IMPORTED")
    with pytest.raises(ValueError, match="no installed distribution declares"):
        resolve_package("pkg:os")  # an importable module is no model package either


def test_params_refuse_an_undeclared_package_and_name_the_key(installed):
    from pydantic import ValidationError

    from tasks.core.config import ModelParams

    with pytest.raises(ValidationError, match="pretrained") as refused:
        ModelParams(pretrained="pkg:rogue_module")
    assert "entry-points" in str(refused.value) and "rogue_module" not in sys.modules


def test_the_pretrained_extra_lmforge_ships_stays_declared():
    from tasks.core.defaults import PRETRAINED_PACKAGE

    folder = resolve_package(PRETRAINED_PACKAGE)
    assert folder.endswith("model") and (Path(folder) / "config.json").is_file()
