"""Reading the YAML files: env substitution, secrets, and errors that say where to look."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncline.config import ConfigError, load_config
from tests.config.helpers import write

DEST = """
destinations:
  - name: crm-db
    type: postgres
    config:
      table: contacts
      dsn: {dsn}
"""


def _problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_config(path, env=env or {})
    return err.value.problems


def test_variables_are_substituted_in_values_not_keys(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yml",
        """
        sources:
          - name: wh
            type: duckdb
            config: {path: "${DATA}/wh.duckdb", "${KEY}": 1}
        models:
          - name: m
            source: wh
            sql: SELECT '$${NOT_A_VAR}' AS x, ${COL} AS id
            primary_key: id
        """,
    )
    config = load_config(tmp_path, env={"DATA": "/srv/data", "COL": "customer_id"})
    assert config.sources["wh"].decl.config == {"path": "/srv/data/wh.duckdb", "${KEY}": 1}
    assert config.models["m"].decl.sql == "SELECT '${NOT_A_VAR}' AS x, customer_id AS id"
    assert str(config.models["m"].origin) == f"{tmp_path / 'a.yml'}:6"


def test_a_secret_comes_from_the_environment(tmp_path: Path) -> None:
    write(tmp_path, "d.yml", DEST.format(dsn='"${CRM_DSN}"'))
    config = load_config(tmp_path, env={"CRM_DSN": "postgresql://u:pw@h/db"})
    assert config.destinations["crm-db"].decl.config["dsn"] == "postgresql://u:pw@h/db"


@pytest.mark.parametrize(
    "value",
    ["postgresql://u:pw@h/db", '"postgresql://u:${PW}@h/db"', "12345", '"${A}${B}"'],
)
def test_an_inline_secret_is_rejected_with_file_path_and_key(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, "d.yml", DEST.format(dsn=value))
    env = {"PW": "pw", "A": "a", "B": "b"}
    assert _problems(tmp_path, env) == [
        f"{path}:6: destinations[0] ('crm-db').config.dsn: 'dsn' is a secret and must not be "
        "written in the file: use dsn: ${DSN} and set DSN in the environment"
    ]


def test_nested_secrets_are_checked_too(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "w.yml",
        """
        destinations:
          - name: hook
            type: webhook
            config:
              url: https://example.com/hook
              auth:
                type: bearer
                token: abc123
        """,
    )
    (problem,) = _problems(tmp_path)
    assert problem.startswith(f"{path}:8: destinations[0] ('hook').config.auth.token: 'token'")


def test_an_unset_variable_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "d.yml", DEST.format(dsn='"${CRM_DSN}"'))
    assert _problems(tmp_path) == [
        f"{path}:6: destinations[0] ('crm-db').config.dsn: environment variable CRM_DSN is not set"
    ]


def test_invalid_yaml_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yml", "sources:\n  - name: wh\n    type: [duckdb\n")
    (problem,) = _problems(tmp_path)
    assert problem.startswith(f"{path}:4:1: invalid YAML: ")


def test_unknown_keys_are_errors_not_silence(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "s.yml",
        """
        syncs:
          - name: Nightly
            model: m
            destination: d
            sync_mode: upsert
            primary_key: id
            shedule: "0 2 * * *"
            field_mapping:
              - {source_column: email, destination_fild: Email}
        colour: blue
        """,
    )
    assert sorted(_problems(tmp_path)) == sorted(
        [
            f"{path}:7: syncs[0] ('Nightly').shedule: Extra inputs are not permitted",
            f"{path}:9: syncs[0] ('Nightly').field_mapping[0].destination_field: Field required",
            f"{path}:9: syncs[0] ('Nightly').field_mapping[0].destination_fild: "
            "Extra inputs are not permitted",
            f"{path}:10: colour: Extra inputs are not permitted",
        ]
    )


def test_field_rules_are_the_apis(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "s.yml",
        """
        syncs:
          - name: Nightly
            model: m
            destination: d
            sync_mode: sideways
            primary_key: id
            schedule: "every tuesday"
        """,
    )
    problems = _problems(tmp_path)
    assert any(p.startswith(f"{path}:5: syncs[0] ('Nightly').sync_mode: ") for p in problems)
    assert any("syncs[0] ('Nightly').schedule" in p for p in problems)


def test_names_are_unique_per_kind_across_files(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yml", "models:\n  - {name: m, source: s, sql: x, primary_key: id}\n")
    second = write(
        tmp_path,
        "b.yaml",
        """
        sources:
          - {name: m, type: duckdb}
        models:
          - {name: m, source: s, sql: y, primary_key: id}
        """,
    )
    assert _problems(tmp_path) == [
        f"{second}:4: model 'm' is already declared at {first}:2; names are unique per kind"
    ]


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yml", "sources:\n  - name: a\n    name: b\n    type: duckdb\n")
    (problem,) = _problems(tmp_path)
    assert problem.startswith(f"{path}:3:5: invalid YAML: duplicate key 'name'")


def test_directory_and_file_shapes(tmp_path: Path) -> None:
    assert _problems(tmp_path / "missing") == [f"{tmp_path / 'missing'}: no such file or directory"]
    assert _problems(tmp_path) == [f"{tmp_path}: no *.yml or *.yaml files in this directory"]
    write(tmp_path, "list.yml", "- sources\n")
    assert _problems(tmp_path / "list.yml") == [
        f"{tmp_path / 'list.yml'}:1: the top level must be a mapping with sources, models, "
        "destinations and syncs"
    ]
    (tmp_path / "list.yml").unlink()
    write(tmp_path, "empty.yml", "# nothing yet\n")
    write(tmp_path, "notes.txt", "not config")
    config = load_config(tmp_path, env={})
    assert config.files == [str(tmp_path / "empty.yml")]


def test_dates_stay_text(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yml",
        """
        syncs:
          - name: s
            model: m
            destination: d
            sync_mode: upsert
            primary_key: id
            config: {since: 2024-01-01}
        """,
    )
    assert load_config(tmp_path, env={}).syncs["s"].decl.config == {"since": "2024-01-01"}
