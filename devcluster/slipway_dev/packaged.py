"""Objects kept as data in this package (`data/`): the CustomResourceDefinitions the dev cluster serves
besides the Release's."""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml


def packaged_objects(name: str) -> list[dict[str, Any]]:
    """The YAML documents of `data/<name>`."""
    text = resources.files("slipway_dev").joinpath(f"data/{name}").read_text()
    return [document for document in yaml.safe_load_all(text) if document]


def routing_crds() -> list[dict[str, Any]]:
    """HTTPRoute and VirtualService, open schemas: what a cluster with Gateway API and Istio installed
    serves, as far as Slipway's routers and the dev cluster's gateway need it."""
    return packaged_objects("routing-crds.yaml")
