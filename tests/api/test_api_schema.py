"""The dev cluster's CRD schema enforcement does what a Kubernetes API server does with openAPIV3Schema."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from hypothesis import given, settings

from slipway_dev.schema import (
    FieldCause,
    _cel_program,
    find_unknown_fields,
    invalid_message,
    to_cel,
    validate_custom_resource,
)

WIDGET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 1, "maximum": 10},
                "ratio": {"type": "number"},
                "mode": {"type": "string", "enum": ["fast", "safe"], "default": "safe"},
                "code": {"type": "string", "pattern": "[0-9]{3}"},
                "port": {"x-kubernetes-int-or-string": True, "minimum": 1, "pattern": "^[a-z]+$"},
                "tags": {
                    "type": "array",
                    "maxItems": 2,
                    "items": {"type": "string"},
                    "x-kubernetes-list-type": "set",
                },
                "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 3}},
                "limits": {
                    "type": "object",
                    "default": {},
                    "properties": {"cpu": {"type": "integer", "default": 2}, "memory": {"type": "integer"}},
                    "x-kubernetes-validations": [
                        {
                            "rule": "!has(self.memory) || self.memory >= self.cpu",
                            "message": "memory below cpu",
                        },
                        {
                            "rule": "self.cpu <= 8",
                            "messageExpression": "'cpu ' + string(self.cpu) + ' is over 8'",
                        },
                    ],
                },
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "note": {"type": "string", "nullable": True},
                "when": {"type": "string", "format": "date-time"},
                "owner": {
                    "type": "string",
                    "x-kubernetes-validations": [
                        {"rule": "self == oldSelf", "message": "owner is immutable"}
                    ],
                },
                "weight": {
                    "type": "number",
                    "x-kubernetes-validations": [
                        {"rule": "self < 2.5", "message": "too heavy", "reason": "FieldValueForbidden"}
                    ],
                },
            },
        },
    },
}


def widget(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.dev/v1",
        "kind": "Widget",
        "metadata": {"name": "w1"},
        "spec": {"size": 3, **spec},
    }


def check(
    obj: dict[str, Any], old: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, FieldCause]]:
    stored, causes = validate_custom_resource(WIDGET_SCHEMA, obj, old)
    return stored, {cause.field: cause for cause in causes}


def test_defaults_are_applied_also_inside_defaulted_objects() -> None:
    stored, causes = check(widget())
    assert causes == {}
    assert stored["spec"]["mode"] == "safe"
    assert stored["spec"]["limits"] == {"cpu": 2}


def test_unknown_fields_are_pruned_except_where_preserved_and_metadata_is_kept() -> None:
    obj = widget(colour="red", extra={"anything": {"deep": 1}}, limits={"cpu": 1, "gpu": 4})
    obj["metadata"]["labels"] = {"team": "a"}
    obj["topLevel"] = True
    stored, causes = check(obj)
    assert causes == {}
    assert "colour" not in stored["spec"] and "topLevel" not in stored
    assert stored["spec"]["extra"] == {"anything": {"deep": 1}}
    assert stored["spec"]["limits"] == {"cpu": 1}
    assert stored["metadata"] == {"name": "w1", "labels": {"team": "a"}}
    assert sorted(find_unknown_fields(WIDGET_SCHEMA, obj)) == ["spec.colour", "spec.limits.gpu", "topLevel"]


def test_nulls_are_dropped_unless_nullable_then_defaults_fill_in() -> None:
    stored, causes = check(widget(mode=None, note=None))
    assert causes == {}
    assert stored["spec"]["mode"] == "safe"
    assert stored["spec"]["note"] is None


def test_types_required_ranges_enum_and_pattern_name_their_fields() -> None:
    obj = widget(size=11, ratio="high", mode="slow", code="abc", tags=["a", "b", "c"], labels={"k": "long"})
    del obj["spec"]["size"]
    obj["spec"]["ratio"] = "high"
    _, causes = check(obj)
    assert causes["spec.size"].reason == "FieldValueRequired"
    assert causes["spec.ratio"].reason == "FieldValueTypeInvalid"
    assert causes["spec.mode"].reason == "FieldValueNotSupported"
    assert causes["spec.code"].message == "Invalid value: \"abc\": spec.code in body should match '[0-9]{3}'"
    assert causes["spec.tags"].reason == "FieldValueTooMany"
    assert causes["spec.labels[k]"].reason == "FieldValueTooLong"


def test_range_message_is_the_api_servers() -> None:
    _, causes = check(widget(size=11))
    assert (
        causes["spec.size"].message
        == "Invalid value: 11: spec.size in body should be less than or equal to 10"
    )


def test_patterns_are_searched_not_anchored_and_integers_are_numbers() -> None:
    assert check(widget(code="x123y", ratio=1))[1] == {}


def test_int_or_string_checks_each_kind_by_its_own_keywords() -> None:
    assert check(widget(port=8080))[1] == {}
    assert check(widget(port="http"))[1] == {}
    assert set(check(widget(port=0))[1]) == {"spec.port"}
    assert set(check(widget(port="HTTP"))[1]) == {"spec.port"}
    assert check(widget(port=True))[1]["spec.port"].reason == "FieldValueTypeInvalid"


def test_sets_refuse_duplicates() -> None:
    _, causes = check(widget(tags=["a", "a"]))
    assert causes["spec.tags[1]"].reason == "FieldValueDuplicate"


def test_date_time_format_is_enforced() -> None:
    assert check(widget(when="2026-11-27T15:00:00Z"))[1] == {}
    assert set(check(widget(when="yesterday"))[1]) == {"spec.when"}


def test_cel_rules_see_defaults_and_name_their_field() -> None:
    _, causes = check(widget(limits={"memory": 1}))
    assert causes["spec.limits"].message == 'Invalid value: "object": memory below cpu'


def test_message_expressions_are_evaluated() -> None:
    _, causes = check(widget(limits={"cpu": 9}))
    assert causes["spec.limits"].message == 'Invalid value: "object": cpu 9 is over 8'


def test_cel_numbers_are_doubles_even_when_written_as_integers() -> None:
    assert check(widget(weight=2))[1] == {}
    cause = check(widget(weight=3))[1]["spec.weight"]
    assert (cause.reason, cause.message) == ("FieldValueForbidden", "Forbidden: too heavy")


def test_type_errors_stop_cel_rules_as_on_a_real_api_server() -> None:
    _, causes = check(widget(size="big", limits={"memory": 1}))
    assert "spec.limits" not in causes
    assert causes["<nil>"].message.startswith('Invalid value: "null": some validation rules were not checked')


def test_transition_rules_compare_with_the_old_object_only_on_update() -> None:
    created, causes = check(widget(owner="ann"))
    assert causes == {}
    assert check(widget(owner="bob"), old=created)[1]["spec.owner"].message.endswith("owner is immutable")
    assert check(widget(owner="ann", size=4), old=created)[1] == {}


def test_unchanged_invalid_parts_are_ratcheted_on_update() -> None:
    stored = widget(size=11)  # stored before a stricter schema, say
    assert check(widget(size=11, mode="fast"), old=stored)[1] == {}
    assert "spec.size" in check(widget(size=12), old=stored)[1]


def test_invalid_message_reads_like_kubectl_shows_it() -> None:
    causes = [FieldCause("FieldValueRequired", "Required value", "spec.size")]
    assert invalid_message("Widget.example.dev", "w1", causes) == (
        'Widget.example.dev "w1" is invalid: spec.size: Required value'
    )
    two = [*causes, FieldCause("FieldValueInvalid", "Invalid value: 0: bad", "spec.port")]
    assert invalid_message("Widget.example.dev", "w1", two).endswith(
        "[spec.size: Required value, spec.port: Invalid value: 0: bad]"
    )


def test_duration_formatted_strings_are_cel_durations() -> None:
    schema = {
        "type": "object",
        "properties": {"timeout": {"type": "string", "format": "duration"}},
        "x-kubernetes-validations": [{"rule": "self.timeout < duration('1h')", "message": "at most an hour"}],
    }
    assert validate_custom_resource(schema, {"timeout": "1m30s"})[1] == []
    assert [cause.field for cause in validate_custom_resource(schema, {"timeout": "2h"})[1]] == ["<nil>"]


NAMED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"metadata": {"type": "object", "properties": {"name": {"type": "string"}}}},
    "x-kubernetes-validations": [
        {
            "rule": "oldSelf.hasValue() || self.metadata.name.size() <= 5",
            "message": "at most 5 characters",
            "fieldPath": ".metadata.name",
            "optionalOldSelf": True,
        }
    ],
}


def test_a_root_rule_with_optional_old_self_checks_the_name_on_create_only() -> None:
    long = {"metadata": {"name": "toolong", "labels": {"a": "b"}}}
    _, causes = validate_custom_resource(NAMED_SCHEMA, long)
    assert [(cause.field, cause.message) for cause in causes] == [
        ("metadata.name", 'Invalid value: "object": at most 5 characters')
    ]
    assert validate_custom_resource(NAMED_SCHEMA, {"metadata": {"name": "short"}})[1] == []
    # An update (a status write to a Release an older CRD let in) is not refused for its name.
    changed = {**long, "status": {"phase": "Degraded"}}
    assert validate_custom_resource(NAMED_SCHEMA, changed, old=long)[1] == []


def test_a_root_rule_sees_only_the_name_and_generate_name_of_metadata() -> None:
    schema = {"type": "object", "x-kubernetes-validations": [{"rule": "has(self.metadata.labels)"}]}
    _, causes = validate_custom_resource(schema, {"metadata": {"name": "w", "labels": {"a": "b"}}})
    assert [cause.field for cause in causes] == ["<nil>"]


GAUGE_RULES = (
    "!has(self.a) || self.a <= self.b",
    "has(self.c) ? self.c > self.b : self.b in [1, 2, 3]",
    "oldSelf.hasValue() || self.b > 0",
    "!oldSelf.hasValue() || oldSelf.value().b <= self.b",
    "size(self) <= 2",
    "self.all(key, key != 'c')",
    "!oldSelf.hasValue() || self == oldSelf.value()",
    "'self.c' != '' && self.b >= 0",
)
GAUGE_VALUES = st.fixed_dictionaries(
    {"b": st.integers(-3, 12)}, optional={"a": st.integers(-3, 12), "c": st.integers(-3, 12)}
)


@settings(max_examples=150, deadline=None)
@given(rule=st.sampled_from(GAUGE_RULES), new=GAUGE_VALUES, old=st.none() | GAUGE_VALUES)
def test_rules_see_only_what_they_read_with_the_same_outcome(
    rule: str, new: dict[str, int], old: dict[str, int] | None
) -> None:
    """A rule is evaluated on the fields it names only (a Release's status is not made CEL for a rule on
    its name); whatever it names, whole or in part, the outcome and message are those on the whole."""
    gauge = {
        "type": "object",
        "properties": {name: {"type": "integer"} for name in "abc"},
        "x-kubernetes-validations": [
            {"rule": rule, "optionalOldSelf": True, "messageExpression": "'b is ' + string(self.b)"}
        ],
    }
    schema = {"type": "object", "properties": {"spec": gauge}}
    whole = validate_custom_resource(schema, {"spec": new}, None if old is None else {"spec": old})[1]
    reference = _whole_rule_outcome(gauge, rule, new, old)
    assert [cause.message for cause in whole] == reference


def _whole_rule_outcome(
    gauge: dict[str, Any], rule: str, new: dict[str, int], old: dict[str, int] | None
) -> list[str]:
    """What the rule gives with self and oldSelf converted whole (no ratcheting: equal values pass too)."""
    if old == new:
        return []
    activation = {"self": to_cel(gauge, new), "oldSelf": to_cel(gauge, old)}
    program = _cel_program(rule)
    if program.evaluate(activation):
        return []
    return [f'Invalid value: "object": b is {new["b"]}']
