"""schema.graphql is the contract frontends read: it must be the live schema."""

from __future__ import annotations

from pathlib import Path

from api.schema import build_schema
from domain.settings import Settings

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_schema_file_matches_the_live_schema(settings: Settings) -> None:
    # given
    live = build_schema(settings).as_str() + "\n"

    # when
    committed = SCHEMA_FILE.read_text(encoding="utf-8")

    # then
    assert committed == live, "run `lendgraph export-schema` and commit schema.graphql"


def test_the_promised_names_are_in_the_schema(settings: Settings) -> None:
    sdl = build_schema(settings).as_str()
    for promised in (
        "node(id: ID!): Node",
        "products(first: Int = null, after: String = null, filter: ProductFilter = null, "
        "orderBy: ProductOrder = null): ProductConnection!",
        "type ApplicationConnection",
        "unifiedSocialCreditCode: String!",
        "legalRepresentativeIdNumber: String",
        "riskAssessment: RiskAssessment",
        "totalCount: Int!",
    ):
        assert promised in sdl, promised
