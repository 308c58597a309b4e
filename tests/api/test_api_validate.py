"""Every wrong Release is rejected, naming its field, by `slipway validate` and by the generated CRD.

The CLI runs for real (typer's runner, the same app `slipway` builds); the CRD side runs the dev cluster's
schema enforcement, which does what an API server does with the CRD: prune, default, validate, CEL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from invalid_releases import WRONG_RELEASES, WrongRelease, valid_release
from typer.testing import CliRunner

from slipway.api.crd import build_crd
from slipway.api.validation import release_problems
from slipway.cli import build_app
from slipway_dev.schema import find_unknown_fields, validate_custom_resource

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
SCHEMA: dict[str, Any] = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def names(named: str, expected: str) -> bool:
    """Whether a reported field is `expected` or lies inside it."""
    return named == expected or named.startswith((f"{expected}.", f"{expected}["))


def run_validate(*paths: Path) -> tuple[int, list[str]]:
    result = CliRunner().invoke(build_app(), ["validate", *map(str, paths)])
    return result.exit_code, result.stdout.splitlines()


@pytest.fixture(scope="module")
def cli_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, list[str], Path]:
    """One `slipway validate` run over a multi-document file holding the whole table."""
    path = tmp_path_factory.mktemp("releases") / "wrong.yaml"
    path.write_text(yaml.safe_dump_all([wrong.manifest() for wrong in WRONG_RELEASES]))
    exit_code, lines = run_validate(path)
    return exit_code, lines, path


def test_the_table_is_large_and_each_case_distinct() -> None:
    assert len(WRONG_RELEASES) >= 30
    assert len({wrong.case for wrong in WRONG_RELEASES}) == len(WRONG_RELEASES)


def test_the_starting_point_is_valid_for_both() -> None:
    assert release_problems(valid_release()) == []
    assert validate_custom_resource(SCHEMA, valid_release())[1] == []


def test_validate_exits_1_on_the_table(cli_report: tuple[int, list[str], Path]) -> None:
    assert cli_report[0] == 1


@pytest.mark.parametrize("wrong", WRONG_RELEASES, ids=lambda wrong: wrong.case)
def test_slipway_validate_names_the_field(
    wrong: WrongRelease, cli_report: tuple[int, list[str], Path]
) -> None:
    _, lines, path = cli_report
    prefix = f"{path}: {wrong.manifest()['metadata']['name']}: "
    fields = [line.removeprefix(prefix).split(": ", 1)[0] for line in lines if line.startswith(prefix)]
    assert fields, f"no problem reported for {wrong.case}"
    assert any(names(field, wrong.field) for field in fields), (wrong.field, lines)


@pytest.mark.parametrize("wrong", WRONG_RELEASES, ids=lambda wrong: wrong.case)
def test_the_crd_schema_names_the_field(wrong: WrongRelease) -> None:
    manifest = wrong.manifest()
    if wrong.offline_only:
        assert validate_custom_resource(SCHEMA, manifest)[1] == []
        return
    if wrong.pruned_by_server:
        assert validate_custom_resource(SCHEMA, manifest)[1] == []
        assert wrong.field in find_unknown_fields(SCHEMA, manifest)
        return
    _, causes = validate_custom_resource(SCHEMA, manifest)
    assert any(names(cause.field, wrong.field) for cause in causes), (wrong.field, causes)
    assert all(cause.message for cause in causes)


def test_problem_lines_read_file_release_field_message(tmp_path: Path) -> None:
    path = tmp_path / "web.yaml"
    manifest = valid_release()
    manifest["spec"]["strategy"]["canary"]["steps"][1] = {"setWeight": 101}
    path.write_text(yaml.safe_dump(manifest))
    exit_code, lines = run_validate(path)
    assert exit_code == 1
    assert lines == [f"{path}: web: spec.strategy.canary.steps[1].setWeight: must be <= 100"]


@pytest.mark.parametrize(
    ("case", "line"),
    [
        ("misspelt-field", "spec.replica: unknown field; did you mean replicas?"),
        ("step-kind-typo", "spec.strategy.canary.steps[0].setweight: unknown field; did you mean setWeight?"),
        (
            "unknown-step-kind",
            "spec.strategy.canary.steps[1].wait: unknown field; allowed here: setWeight, pause, analysis,"
            " setCanaryRoute, removeCanaryRoute, setMirror",
        ),
        ("rolling-surge-negative", "spec.strategy.rolling.maxSurge: must be >= 0"),
        (
            "rolling-unavailable-over-100-percent",
            'spec.strategy.rolling.maxUnavailable: must be an integer or a percentage from "0%" to "100%"',
        ),
        (
            "target-port-bad-name",
            "spec.service.targetPort: must be an integer or a DNS label: lowercase letters, digits and '-',"
            " alphanumeric at both ends",
        ),
        ("alerts-without-labels", "spec.rollback.alerts.matchLabels: must not be empty"),
        ("no-steps", "spec.strategy.canary.steps: must not be empty"),
    ],
)
def test_messages_a_user_understands(case: str, line: str) -> None:
    wrong = next(wrong for wrong in WRONG_RELEASES if wrong.case == case)
    assert [str(problem) for problem in release_problems(wrong.manifest())] == [line]


def test_other_kinds_are_skipped_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "mixed.yaml"
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}}
    path.write_text(yaml.safe_dump_all([config_map, valid_release(), None]))
    result = CliRunner().invoke(build_app(), ["validate", str(path)])
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [f"{path}: web: valid"]
    assert "settings: skipped, a ConfigMap is not a Release" in result.stderr


def test_reads_stdin_for_a_dash() -> None:
    manifest = yaml.safe_dump(valid_release())
    result = CliRunner().invoke(build_app(), ["validate", "-"], input=manifest)
    assert (result.exit_code, result.stdout) == (0, "-: web: valid\n")


def test_unreadable_input_fails(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("spec: [unclosed\n")
    exit_code, lines = run_validate(broken, tmp_path / "missing.yaml")
    assert exit_code == 1
    assert lines[0].startswith(f"{broken}: not valid YAML")
    assert lines[1].startswith(f"{tmp_path / 'missing.yaml'}: cannot read")


def test_examples_pass_slipway_validate() -> None:
    exit_code, lines = run_validate(*EXAMPLES)
    assert exit_code == 0
    assert len(lines) == len(EXAMPLES) and all(line.endswith(": valid") for line in lines)


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_examples_pass_the_crd_schema(path: Path) -> None:
    manifest = yaml.safe_load(path.read_text())
    stored, causes = validate_custom_resource(SCHEMA, manifest)
    assert causes == []
    assert find_unknown_fields(SCHEMA, manifest) == []
    assert stored["spec"]["rollback"]["onProgressDeadline"] in {"rollback", "pause"}


# Values tried at each field by the agreement test: some valid, some not, some of the wrong type.
CANDIDATES: dict[str, list[Any]] = {
    "spec.replicas": [0, 3, -1, "3", 2.5, True],
    "spec.version": ["1.0", "", "a b", "v" * 64, 7],
    "spec.service.targetPort": [8080, "http", 0, "Bad", 70000, None],
    "spec.strategy.canary.steps[0]": [{"setWeight": 100}, {"setWeight": 101}, {"pause": {}}, {}, {"x": 1}],
    "spec.strategy.canary.steps[1].pause.duration": ["1h30m", "0s", "5", "-1s", "1.5h", None],
    "spec.strategy.canary.steps[2].analysis.metrics": [["checkout-p95"], [], ["nope"], None],
    "spec.strategy.rolling": [{"maxSurge": "50%", "maxUnavailable": 0}, {"maxSurge": 0, "maxUnavailable": 0}],
    "spec.analysis.interval": ["10s", "0ms", "1d", "500ms"],
    "spec.analysis.metrics[0].thresholdRange": [{"min": 0}, {"min": 2, "max": 1}, {}, {"max": "1"}, None],
    "spec.analysis.metrics[0].failureLimit": [0, 5, -1],
    "spec.analysis.metrics[1].name": ["error-rate", "p95", "-bad"],
    "spec.analysis.metrics[1].prometheus": [{"query": "up"}, {"query": ""}, None],
    "spec.trafficRouting": [{}, {"istio": {"hosts": ["a"]}}, {"nginx": {"host": "h"}}, None],
    "spec.rollback": [{}, {"onProgressDeadline": "pause"}, {"progressDeadlineSeconds": 0}, None],
    "spec.rollback.alerts": [{"matchLabels": {"a": "b"}}, {"matchLabels": {"a": 1}}, {}, None],
    "spec.analysis.metrics[1]": [
        {
            "name": "w",
            "web": {"url": "https://x/v", "jsonPath": "$.v", "headers": {"a": "b"}},
            "thresholdRange": {"max": 1},
        },
        {
            "name": "w",
            "web": {"url": "https://x/v", "jsonPath": "$.v", "headers": {"a": 1}},
            "thresholdRange": {"max": 1},
        },
        {
            "name": "w",
            "web": {"url": "https://x", "jsonPath": "$", "timeoutSeconds": 0},
            "thresholdRange": {"min": 0},
        },
        {
            "name": "j",
            "job": {"template": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}},
        },
        {"name": "j", "job": {"template": {"template": {"spec": {"containers": [{"name": "c"}]}}}}},
        {"name": "j", "job": {"template": {"backoffLimit": 1}}},
        {"name": "b", "builtin": "latency-p95", "onNoData": "fail", "inconclusiveLimit": 0},
    ],
    "spec.trafficRouting.gatewayAPI": [
        {"parentRefs": [{"name": "g", "sectionName": "https", "port": 443}]},
        {"parentRefs": [{"name": "g", "port": 0}]},
        {"parentRefs": [{"name": ""}]},
        {"parentRefs": [{"name": "g"}], "hostnames": [""]},
    ],
    "spec.template": [
        {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i", "x": 1}]}},
        {"spec": {"containers": [{"name": "", "image": "i"}]}},
        {"spec": {}},
        {"metadata": {}},
        "pod",
    ],
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_slipway_validate_and_the_crd_agree_on_what_is_valid(data: st.DataObject) -> None:
    drawn = data.draw(st.sets(st.sampled_from(sorted(CANDIDATES)), min_size=1, max_size=4))
    # A field inside one that is replaced too would have nowhere to go.
    paths = {path for path in drawn if not any(names(path, outer) and path != outer for outer in drawn)}
    changes = {path: data.draw(st.sampled_from(CANDIDATES[path]), label=path) for path in sorted(paths)}
    # Two strategies would be a problem of their own; a rolling choice replaces the canary.
    if "spec.strategy.rolling" in changes:
        changes = {path: value for path, value in changes.items() if "canary" not in path}
        changes["spec.strategy"] = {"rolling": changes.pop("spec.strategy.rolling")}
    manifest = WrongRelease("agreement", "", changes).manifest()
    accepted_offline = not release_problems(manifest)
    _, causes = validate_custom_resource(SCHEMA, manifest)
    accepted_by_server = not causes and not find_unknown_fields(SCHEMA, manifest)
    assert accepted_offline == accepted_by_server, (changes, release_problems(manifest), causes)


def test_a_bare_on_key_is_explained_not_only_reported_missing(tmp_path: Path) -> None:
    path = tmp_path / "web.yaml"
    manifest = valid_release()
    path.write_text(yaml.safe_dump(manifest) + "  notify:\n  - notifier: team-chat\n    on: [Promoted]\n")
    exit_code, lines = run_validate(path)
    assert exit_code == 1
    assert lines == [
        f'{path}: web: spec.notify[0].on: YAML read the key on as the boolean true: quote it, "on":'
    ]
    path.write_text(path.read_text().replace("on: [", '"on": ['))
    assert run_validate(path) == (0, [f"{path}: web: valid"])


@pytest.mark.parametrize(("value", "message"), [("soon", "should match"), ("0s", "must be longer than 0s")])
def test_a_bad_duration_gets_one_clear_message_from_the_crd(value: str, message: str) -> None:
    """The API server runs CEL rules even where a pattern failed: the rule must not add an evaluation
    error of its own to the pattern's message."""
    release = valid_release()
    release["spec"]["alertRules"] = {"highErrorRate": {"for": value}}
    _, causes = validate_custom_resource(SCHEMA, release)
    assert [(cause.field, message in cause.message) for cause in causes] == [
        ("spec.alertRules.highErrorRate.for", True)
    ]
