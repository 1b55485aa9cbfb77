"""The worked example of docs/config-as-code.md, run as written, output compared to the doc."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncline.config import ConfigError, apply_plan, build_plan, load_config
from syncline.config.render import render_apply, render_plan
from syncline.context import AppContext
from syncline.store.tables import Model, Sync
from tests.config.doc_examples import blocks, exports, normalise, write_files
from tests.config.stores import make_warehouse, rows

DOC_ROOT = "/srv/analytics"  # where the doc's variables point; a temp dir in the test


def run_example(ctx: AppContext, workspace_id: str, root: Path) -> dict[str, str]:
    """Run every step of the doc's example in ``root`` (the cwd); the outputs by block name."""
    files, named = blocks("config-as-code.md")
    write_files(files, root)
    env = {k: v.replace(DOC_ROOT, str(root)) for k, v in exports(named["env"]).items()}
    make_warehouse(Path(env["WAREHOUSE_PATH"]))
    Path(env["EXPORT_DIR"]).mkdir()
    out: dict[str, str] = {}

    def plan(env: dict[str, str], prune: bool = False) -> tuple[object, str]:
        config = load_config(Path("syncline"), env=env)
        with ctx.sessions() as session:
            p = build_plan(
                session,
                secrets=ctx.secrets,
                workspace_id=workspace_id,
                config=config,
                prune=prune,
            )
        return p, "\n".join(render_plan(p)).replace(str(root), DOC_ROOT)

    first, out["plan"] = plan(env)
    out["apply"] = "\n".join(render_apply(first, apply_plan(ctx, first)))  # type: ignore[arg-type]
    out["plan-again"] = plan(env)[1]
    rotated = {**env, **exports(named["rotate"])}
    out["plan-rotate"] = plan(rotated)[1]
    apply_plan(ctx, plan(rotated)[0])  # type: ignore[arg-type]

    syncs = root / "syncline" / "syncs.yml"
    text = syncs.read_text()
    syncs.write_text(text[: text.index("  - name: Pro customers to file")])
    out["plan-no-prune"] = plan(rotated)[1]
    pruned, out["plan-prune"] = plan(rotated, prune=True)
    apply_plan(ctx, pruned)  # type: ignore[arg-type]
    return out


@pytest.fixture
def example(
    ctx: AppContext, workspace_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)  # the doc runs `syncline plan -f syncline/` from its project
    return run_example(ctx, workspace_id, tmp_path)


@pytest.mark.parametrize(
    "block", ["plan", "apply", "plan-again", "plan-rotate", "plan-no-prune", "plan-prune"]
)
def test_the_doc_shows_what_syncline_prints(example: dict[str, str], block: str) -> None:
    _, named = blocks("config-as-code.md")
    assert normalise(named[block]) == normalise(example[block])


def test_the_example_builds_the_workspace_it_describes(
    ctx: AppContext, workspace_id: str, example: dict[str, str]
) -> None:
    models = {m.name: m for m in rows(ctx, Model, workspace_id)}
    assert [c["name"] for c in models["pro_customers"].columns or []] == ["customer_id", "email"]
    assert [s.name for s in rows(ctx, Sync, workspace_id)] == ["Customers to CRM"]


def test_the_doc_shows_the_inline_secret_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files, named = blocks("config-as-code.md")
    write_files(files, tmp_path)
    monkeypatch.chdir(tmp_path)
    path = Path("syncline/destinations.yml")
    path.write_text(path.read_text().replace("${CRM_DSN}", "postgresql://u:pw@crm/crm"))
    with pytest.raises(ConfigError) as err:
        load_config(Path("syncline"), env=exports(named["env"]))
    assert [f"error: {p}" for p in err.value.problems] == [named["inline-secret"].strip()]
