"""The exception tree: typed context fields, typos that fail loudly, and errors that survive pickling."""

from __future__ import annotations

import pickle
import re

import pytest

from tasks.core import errors
from tasks.core.errors import (
    CatalogError,
    ConfigError,
    InstructionError,
    ProviderError,
    RateLimited,
    RetouchError,
    SourceError,
    UnknownPrice,
)

FAMILIES = sorted(
    (cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, RetouchError)),
    key=lambda cls: cls.__name__,
)


def test_context_fields_read_as_typed_attributes_and_missing_ones_are_none() -> None:
    error = RateLimited("slow down", provider="pixapi.edits", status_code=429, retry_after=2.5, request_id=None)
    assert (error.provider, error.status_code, error.retry_after) == ("pixapi.edits", 429, 2.5)
    assert error.request_id is None and error.row_id is None
    assert error.context == {"provider": "pixapi.edits", "status_code": 429, "retry_after": 2.5}


def test_a_misspelt_field_is_an_attribute_error_when_read() -> None:
    error = RateLimited("slow down", retry_after=1.0)
    with pytest.raises(AttributeError):
        error.retry_afer  # type: ignore[attr-defined]  # noqa: B018 - the read is the test
    with pytest.raises(AttributeError):
        ConfigError("bad", path="edits[0]").status_code  # type: ignore[attr-defined]  # noqa: B018


def test_a_misspelt_or_foreign_field_is_a_type_error_when_raised() -> None:
    with pytest.raises(TypeError, match=r"SourceError carries no context field 'colum'; it declares .*column"):
        SourceError("missing", colum="src")
    with pytest.raises(TypeError, match="status_code"):
        CatalogError("bad rows", status_code=500)


def test_set_fields_land_in_the_context_that_results_and_logs_read() -> None:
    error = ProviderError("boom", provider="fashn.edit")
    error.attempts = 3
    error.billing_risk = True
    assert error.context == {"provider": "fashn.edit", "attempts": 3, "billing_risk": True}
    error.billing_risk = None
    assert "billing_risk" not in error.context and error.billing_risk is None


@pytest.mark.parametrize("family", FAMILIES, ids=lambda cls: cls.__name__)
def test_every_family_pickles_with_its_type_message_and_context(family: type[RetouchError]) -> None:
    fields = sorted(family.context_fields())
    error = family(f"{family.__name__} happened", **{name: f"value of {name}" for name in fields})
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is family and str(copy) == str(error) and copy.context == error.context
    assert all(getattr(copy, name) == f"value of {name}" for name in fields)


def test_subfamilies_inherit_their_parents_fields() -> None:
    assert {"path", "source", "attempts"} <= UnknownPrice.context_fields()
    assert {"provider", "model", "options"} <= UnknownPrice.context_fields()
    assert {"row_id", "field", "prompt", "step"} <= InstructionError.context_fields()


def test_the_drawn_tree_names_every_family_and_its_fields() -> None:
    docstring = errors.__doc__ or ""
    drawn = set(re.findall(r"[├└]── (\w+)", docstring)) | {"RetouchError"}
    assert drawn == {cls.__name__ for cls in FAMILIES}
    for family in FAMILIES:
        assert all(name in docstring for name in family.context_fields()), family.__name__
