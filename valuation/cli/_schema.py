"""``dpv schema``: print the JSON Schema of an input document."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from valuation.cli import app
from valuation.exceptions import DpvInputError


def _schemas() -> dict[str, type]:
    from valuation.schema.product import Product

    found: dict[str, type] = {"product": Product}
    try:  # documents of later capabilities register here when they exist
        from valuation.schema.stress import StressRequest

        found["stress"] = StressRequest
    except ImportError:
        pass
    try:
        from valuation.schema.pledge import PledgeRequest

        found["pledge"] = PledgeRequest
    except ImportError:
        pass
    return found


@app.command("schema")
def schema_command(
    document: Annotated[str, typer.Argument(help="Which input: product, stress or pledge.")],
) -> None:
    """Print the JSON Schema of an input document (product, stress, pledge)."""
    schemas = _schemas()
    if document not in schemas:
        raise DpvInputError(
            f"unknown document {document!r}; choose one of {', '.join(sorted(schemas))}",
            field="DOCUMENT",
        )
    typer.echo(json.dumps(schemas[document].model_json_schema(), indent=2, ensure_ascii=False))  # type: ignore[attr-defined]
