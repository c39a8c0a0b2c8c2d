"""PyInstaller hook for tether: the runtime (onnxruntime, tokenizers, numpy) and the model.

Registered through the ``pyinstaller40`` ``hook-dirs`` entry point, so ``pyinstaller app.py``
uses it with no spec changes. Where the bundle comes from and when the build is refused:
see tether.bundle.pyinstaller.
"""

from __future__ import annotations

import importlib.util

from PyInstaller.utils.hooks import collect_dynamic_libs, copy_metadata, get_hook_config, logger

from tether.bundle.needs import runtime_needs
from tether.bundle.pyinstaller import (
    CONFIG_KEY,
    RUNTIME_MODULES,
    plan_collection,
    require_runtime,
)

# tether imports its runtime lazily (tether.load -> importlib), so name every module of it
# and what they import: derived from the code (tether.bundle.needs), as for Nuitka.
hiddenimports = [*runtime_needs().modules, *runtime_needs().packages]

binaries = []
datas = []
for _module in ("onnxruntime", "tokenizers"):
    if importlib.util.find_spec(_module) is not None:
        # onnxruntime loads its execution-provider libraries by path, not by import
        binaries += collect_dynamic_libs(_module)
        datas += copy_metadata(_module)


def hook(hook_api) -> None:
    plan = plan_collection(get_hook_config(hook_api, "tether", CONFIG_KEY))
    kinds = {}
    for module in RUNTIME_MODULES:
        node = hook_api.module_graph.find_node(module)
        if node is not None:
            kinds[module] = type(node).__name__
    require_runtime(plan, hook_api.analysis.excludes, kinds)
    if plan.root is None:
        logger.info("tether: no model bundle found; the app will look for models at run time")
        return
    logger.info(
        "tether: bundling %s (%d files, verified) from %s [%s]",
        ", ".join(plan.profiles) or "assets",
        len(plan.datas),
        plan.root,
        plan.found_by,
    )
    hook_api.add_datas(plan.toc())
