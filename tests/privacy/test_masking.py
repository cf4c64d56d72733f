"""Masking strategies on real formats, and which active policy applies to a viewer."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.privacy.models import MaskingPolicy
from domain.privacy.policies import MaskingRules
from privacy import masking
from privacy.keys import HashKeys
from privacy.masking import DEFAULT, Strategy, fits, mask, validate
from tests import factories as f

PHONE = "Enterprise.contactPhone"
REVENUE = "Enterprise.annualRevenue"
EDGES = {"edges": ["0", "1000000", "5000000", "20000000"]}


def shown(name: str, value: Any, params: dict[str, Any] | None = None, obj: str = PHONE) -> Any:
    return Strategy(name, params or {}).apply(value, object=obj, keys=f.KEYS)


@pytest.mark.parametrize(
    ("preset", "value", "expected"),
    [
        ("resident_id", "11010119900307123X", "110101********123X"),
        ("resident_id", "110101 19900307 1234", "110101********1234"),
        ("mobile", "13812345678", "138****5678"),
        ("bank_card", "6222021234567890123", "***************0123"),
        ("email", "zhang.wei@example.cn", "z***@example.cn"),
    ],
)
def test_partial_presets_keep_what_recognises_a_known_value(
    preset: str, value: str, expected: str
) -> None:
    assert shown("partial", value, {"preset": preset}) == expected


def test_partial_keeps_the_characters_asked_for_and_never_the_whole_of_a_short_value() -> None:
    # when
    kept = shown("partial", "Zhang Wei", {"keep_first": 1, "keep_last": 2})
    short = shown("partial", "Li", {"keep_first": 1, "keep_last": 2})
    first_only = shown("partial", "Ouyang", {"keep_first": 2})

    # then
    assert kept == "Z******ei"
    assert short == "**"
    assert first_only == "Ou****"


def test_the_built_in_default_is_the_partial_mask_of_mask() -> None:
    for value in ("11010119900307123X", "13812345678", "a@b.cn", "Zhang", Decimal("1.00")):
        assert DEFAULT.apply(value, object=PHONE, keys=f.KEYS) == mask(value, "contactPhone")
    assert (DEFAULT.name, DEFAULT.version, DEFAULT.policy_id) == ("partial", 0, None)
    assert mask("13812345678", "contactPhone") == "138****5678"


def test_band_gives_the_lower_edge_of_the_amounts_band_and_the_year_of_a_date() -> None:
    # when
    amounts = [
        shown("band", Decimal(v), EDGES, REVENUE)
        for v in ("-5.00", "0.00", "999999.99", "1000000.00", "7500000.00", "90000000.00")
    ]
    day = shown("band", date(2019, 8, 17), {}, "Enterprise.foundedOn")
    moment = shown("band", datetime(2019, 8, 17, 10, 30, tzinfo=UTC), {}, "X.at")

    # then
    assert amounts == [
        Decimal(0),
        Decimal("0"),
        Decimal("0"),
        Decimal("1000000"),
        Decimal("5000000"),
        Decimal("20000000"),
    ]
    assert all(isinstance(a, Decimal) for a in amounts)
    assert shown("band", Decimal("50"), {"edges": ["100", "200"]}, REVENUE) == Decimal(0)
    assert day == date(2019, 1, 1)
    assert moment == datetime(2019, 1, 1, tzinfo=UTC)


def test_hash_links_equal_values_per_field_and_depends_on_the_key() -> None:
    # given
    other_keys = f.KEYS.with_hash_keys(HashKeys(f.KEYS.hashing.blind_index, bytes(range(1, 33))))

    # when
    a = shown("hash", "13812345678")
    again = shown("hash", "13812345678")
    other_value = shown("hash", "13812345679")
    other_field = shown("hash", "13812345678", obj="User.phone")
    other_key = Strategy("hash").apply("13812345678", object=PHONE, keys=other_keys)

    # then
    assert a == again
    assert len(a) == 16
    assert int(a, 16) >= 0
    assert len({a, other_value, other_field, other_key}) == 4


def test_redact_null_reveal_and_none_stays_none() -> None:
    assert shown("redact", "13812345678") == "[redacted]"
    assert shown("null", "13812345678") is None
    assert shown("reveal", "13812345678") == "13812345678"
    for name in masking.STRATEGIES:
        assert shown(name, None, {"edges": ["0"]} if name == "band" else {}) is None


def test_strategies_are_ranked_from_withheld_to_revealed() -> None:
    ordered = sorted(masking.STRATEGIES, key=masking.rank)
    assert ordered == ["null", "redact", "hash", "band", "partial", "reveal"]
    assert [Strategy(n).rank for n in ordered] == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("strategy", "graphql_type", "expected"),
    [
        ("partial", "String", True),
        ("hash", "String", True),
        ("redact", "String", True),
        ("partial", "Decimal", False),
        ("hash", "Date", False),
        ("band", "Decimal", True),
        ("band", "Date", True),
        ("band", "String", False),
        ("null", "Decimal", True),
        ("reveal", "Int", True),
        ("shuffle", "String", False),
    ],
)
def test_which_strategy_fits_which_type(strategy: str, graphql_type: str, expected: bool) -> None:
    assert fits(strategy, graphql_type) is expected


@pytest.mark.parametrize(
    ("strategy", "params", "field_type", "problem"),
    [
        ("shuffle", {}, None, "unknown strategy 'shuffle'"),
        ("partial", {"preset": "passport"}, None, "unknown preset 'passport'"),
        ("partial", {"keep_first": -1}, None, "keep_first must be a whole number"),
        ("partial", {"keep_last": "4"}, None, "keep_last must be a whole number"),
        ("partial", {"preset": "mobile", "keep_last": 2}, None, "not both"),
        ("hash", {"salt": "x"}, None, "unknown parameter(s) 'salt'"),
        ("band", {"edges": ["100", "50"]}, None, "ascending"),
        ("band", {"edges": ["0", "0"]}, None, "ascending"),
        ("band", {"edges": ["zero"]}, None, "decimal strings"),
        ("band", {"edges": []}, None, "decimal strings"),
        ("band", {}, "Decimal", "decimal strings"),
        ("band", EDGES, "String", "needs a Date or Decimal field, not String"),
        ("hash", {}, "Decimal", "needs a String field"),
    ],
)
def test_validate_names_the_problem(
    strategy: str, params: dict[str, Any], field_type: str | None, problem: str
) -> None:
    problems = validate(strategy, params, field_type=field_type)
    assert any(problem in p for p in problems), problems


def test_validate_accepts_good_strategies() -> None:
    assert validate("partial", {"preset": "resident_id"}) == []
    assert validate("partial", {"keep_first": 0, "keep_last": 4}, field_type="String") == []
    assert validate("band", EDGES, field_type="Decimal") == []
    assert validate("band", {}, field_type="Date") == []
    assert validate("null", {}, field_type="Decimal") == []


# ------------------------------------------------------------------ MaskingRules


def rules(*policies: tuple[str, str, str, str]) -> MaskingRules:
    """Active (object, role, purpose, strategy) policies, as load() would read them."""
    by_object: dict[str, dict[tuple[str, str], Strategy]] = {}
    for version, (obj, role, purpose, strategy) in enumerate(policies, 1):
        by_object.setdefault(obj, {})[(role, purpose)] = Strategy(
            strategy, {}, version, uuid.uuid4()
        )
    return MaskingRules(by_object)


def test_the_most_revealing_role_wins() -> None:
    # given
    applied = rules(
        (PHONE, "loan_officer", "*", "hash"),
        (PHONE, "risk_officer", "*", "redact"),
    )

    # when
    both = applied.strategy_for(PHONE, ["risk_officer", "loan_officer"], "credit_assessment")
    risk_only = applied.strategy_for(PHONE, {"risk_officer"}, "credit_assessment")

    # then
    assert both is not None
    assert both.name == "hash"
    assert risk_only is not None
    assert risk_only.name == "redact"


def test_a_purpose_specific_policy_beats_the_any_purpose_one() -> None:
    # given
    applied = rules(
        (PHONE, "loan_officer", "*", "redact"),
        (PHONE, "loan_officer", "marketing", "null"),
    )

    # when
    marketing = applied.strategy_for(PHONE, ["loan_officer"], "marketing")
    other = applied.strategy_for(PHONE, ["loan_officer"], "credit_assessment")

    # then
    assert marketing is not None
    assert marketing.name == "null"
    assert other is not None
    assert other.name == "redact"


def test_no_policy_applies_to_other_fields_roles_or_purposes() -> None:
    # given
    applied = rules((PHONE, "loan_officer", "marketing", "redact"))

    # then
    assert applied.strategy_for(PHONE, ["risk_officer"], "marketing") is None
    assert applied.strategy_for(PHONE, ["loan_officer"], "credit_assessment") is None
    assert applied.strategy_for("Enterprise.contactEmail", ["loan_officer"], "marketing") is None
    assert MaskingRules.empty().strategy_for(PHONE, ["loan_officer"], "marketing") is None


async def test_load_reads_only_active_policies(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    async with sessions() as s, s.begin():
        for version, (strategy, status) in enumerate(
            [("reveal", "superseded"), ("hash", "active"), ("partial", "pending")], 1
        ):
            s.add(
                MaskingPolicy(
                    object=PHONE,
                    role="loan_officer",
                    purpose="*",
                    strategy=strategy,
                    params={},
                    version=version,
                    status=status,
                )
            )
        s.add(
            MaskingPolicy(
                object=REVENUE,
                role="risk_officer",
                purpose="credit_assessment",
                strategy="band",
                params=EDGES,
                version=1,
                status="active",
            )
        )

    # when
    async with sessions() as s:
        loaded = await MaskingRules.load(s)

    # then
    assert len(loaded) == 2
    phone = loaded.strategy_for(PHONE, ["loan_officer"], "marketing")
    revenue = loaded.strategy_for(REVENUE, ["risk_officer"], "credit_assessment")
    assert phone is not None
    assert (phone.name, phone.version) == ("hash", 2)
    assert revenue is not None
    assert revenue.params == EDGES
    assert revenue.apply(Decimal("6000000.00"), object=REVENUE, keys=f.KEYS) == Decimal("5000000")
