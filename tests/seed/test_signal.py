"""The synthetic book carries credit signal a model can learn (see seed/README.md).

A risk officer trusts a demo model only if the book it learned from defaults for
reasons they recognise; this holds the generating process to that, through the same
sample and pipeline ``lendgraph model train`` uses, with fewer trees to stay fast.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.risk.assessment import training_sample
from scoring.features import PLATFORM_FEATURES
from scoring.training import cross_validate
from seed import seed_population
from tests import factories as f

AS_OF = date(2026, 11, 1)
LIGHT = {"iterations": 200, "validation_folds": 2, "early_stopping_rounds": 40}


async def test_a_cross_validated_model_learns_the_seeded_defaults(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: a seeded book, seasoned loans labelled as `model train` labels them
    await seed_population(sessions, enterprises=1000, seed=42, keys=f.KEYS, as_of=AS_OF)
    async with sessions() as session:
        sample = await training_sample(session, as_of=AS_OF)

    # when
    figures = cross_validate(
        sample.rows, sample.labels, PLATFORM_FEATURES, folds=4, seed=42, params=LIGHT
    )

    # then: enough defaults to learn from, ranked well out of fold by both models
    assert figures["n_bad"] >= 50
    assert 0.06 <= figures["n_bad"] / figures["n_rows"] <= 0.25
    assert figures["auc_mean"] >= 0.75, figures["auc_mean"]
    assert figures["baseline"]["auc_mean"] >= 0.72, figures["baseline"]["auc_mean"]
