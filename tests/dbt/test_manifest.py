"""Reading dbt manifests: every way a primary key is found, and what is left out."""

from __future__ import annotations

from typing import Any

from syncline.config.dbt import manifest_models


def model(name: str, **extra: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "resource_type": "model",
        "name": name,
        "relation_name": f'"db"."main"."{name}"',
        "description": "",
        "tags": [],
        "config": {"enabled": True, "materialized": "table", "meta": {}, "tags": []},
        "meta": {},
        "columns": {},
        "constraints": [],
    }
    node.update(extra)
    return node


def generic_test(
    kind: str, model_id: str, column: str, namespace: str | None = None
) -> dict[str, Any]:
    return {
        "resource_type": "test",
        "name": f"{kind}_{column}",
        "test_metadata": {"name": kind, "namespace": namespace, "kwargs": {"column_name": column}},
        "attached_node": model_id,
        "depends_on": {"nodes": [model_id]},
        "column_name": column,
        "config": {"enabled": True},
    }


def keys(nodes: dict[str, Any]) -> dict[str, tuple[str | None, str, str]]:
    return {
        m.name: (m.primary_key, m.key_origin, m.problem) for m in manifest_models({"nodes": nodes})
    }


def test_meta_beats_constraints_beats_unique_tests() -> None:
    both = {"syncline": {"primary_key": "id"}}
    nodes = {
        "model.p.a": model("a", meta=both, constraints=[{"type": "primary_key", "columns": ["k"]}]),
        "model.p.b": model("b", config={"meta": {"syncline": {"primary_key": ["id"]}}}),
        "model.p.c": model("c", constraints=[{"type": "primary_key", "columns": ["k"]}]),
        "model.p.d": model(
            "d", columns={"k": {"name": "k", "constraints": [{"type": "primary_key"}]}}
        ),
        "test.p.u": generic_test("unique", "model.p.c", "other"),
    }
    assert keys(nodes) == {
        "a": ("id", "meta.syncline.primary_key", ""),
        "b": ("id", "meta.syncline.primary_key", ""),
        "c": ("k", "primary_key constraint", ""),
        "d": ("k", "primary_key constraint", ""),
    }


def test_among_unique_columns_a_not_null_one_wins() -> None:
    nodes = {
        "model.p.a": model("a"),
        "test.p.1": generic_test("unique", "model.p.a", "email"),
        "test.p.2": generic_test("unique", "model.p.a", "id"),
        "test.p.3": generic_test("not_null", "model.p.a", "id"),
        "model.p.b": model("b"),
        "test.p.4": generic_test("unique", "model.p.b", "z"),
        "test.p.5": generic_test("unique", "model.p.b", "y"),
        "model.p.c": model("c"),
        "test.p.6": generic_test("unique", "model.p.c", "id", namespace="dbt_expectations"),
    }
    got = keys(nodes)
    assert got["a"][:2] == ("id", "unique test on id")
    assert got["b"][:2] == ("y", "unique test on y")
    assert got["c"][0] is None and got["c"][2].startswith("no primary key")


def test_what_cannot_be_imported_says_why() -> None:
    nodes = {
        "model.p.composite": model("composite", meta={"syncline": {"primary_key": ["a", "b"]}}),
        "model.p.eph": model(
            "eph",
            relation_name=None,
            config={"materialized": "ephemeral", "meta": {"syncline": {"primary_key": "id"}}},
        ),
    }
    got = keys(nodes)
    assert got["composite"] == (
        None,
        "",
        "meta.syncline.primary_key must name exactly one column",
    )
    assert got["eph"][2] == "dbt builds no relation for it (materialized: ephemeral)"


def test_disabled_models_and_old_versions_are_left_out() -> None:
    nodes = {
        "model.p.off": model("off", config={"enabled": False}),
        "model.p.v.v1": model("v", version=1, latest_version=2, relation_name='"db"."main"."v_v1"'),
        "model.p.v.v2": model("v", version=2, latest_version=2, relation_name='"db"."main"."v"'),
        "seed.p.s": {"resource_type": "seed", "name": "s"},
    }
    (only,) = manifest_models({"nodes": nodes})
    assert (only.unique_id, only.relation_name) == ("model.p.v.v2", '"db"."main"."v"')
