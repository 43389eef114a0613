"""Powertools' `event_handler` package, registered without running its `__init__`.

That `__init__` imports every resolver Powertools has (AppSync, AppSync Events, Bedrock agents, VPC Lattice,
Lambda function URLs, the HTTP resolver): about 20 ms of a cold start for resolvers this API never uses. With
`register()`, its submodules import as usual; a name asked of the package itself (`from
aws_lambda_powertools.event_handler import ApiGatewayResolver`, as some of its own modules do) is taken from
the submodule of that name, else from `api_gateway`, and only otherwise from the real `__init__`, run then.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

PACKAGE = "aws_lambda_powertools.event_handler"


def register() -> bool:
    """Register the package lean, unless it was imported already (then nothing changes: False)."""
    if PACKAGE in sys.modules:
        return False
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return False
    package = importlib.util.module_from_spec(spec)
    loader, whole = spec.loader, {"run": False}

    def __getattr__(name: str) -> Any:  # a module's __getattr__ (PEP 562)
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return importlib.import_module(f"{PACKAGE}.{name}")
        except ModuleNotFoundError as missing:
            if missing.name != f"{PACKAGE}.{name}":
                raise
        api_gateway = importlib.import_module(f"{PACKAGE}.api_gateway")
        if hasattr(api_gateway, name):
            return getattr(api_gateway, name)
        if not whole["run"]:
            whole["run"] = True
            loader.exec_module(package)  # the real __init__, into this module: every resolver, as without us
            if name in vars(package):
                return vars(package)[name]
        raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}")

    setattr(package, "__getattr__", __getattr__)  # noqa: B010 - a module's __getattr__, set on the module
    sys.modules[PACKAGE] = package
    setattr(importlib.import_module("aws_lambda_powertools"), "event_handler", package)  # noqa: B010
    return True
