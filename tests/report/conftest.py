"""Fixtures of the report tests: small synthetic studies (see report_synthetic.py)."""

from __future__ import annotations

import pytest
from report_synthetic import ablation_study, random_study

from hpstudy.study.records import StudyData


@pytest.fixture
def ablation3() -> StudyData:
    return ablation_study(3)


@pytest.fixture
def ablation1() -> StudyData:
    return ablation_study(1)


@pytest.fixture
def random12() -> StudyData:
    return random_study(12)
