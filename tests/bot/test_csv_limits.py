"""CSV edges: huge fields, huge files, and every problem of a file reported in one pass."""

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from bot.importing import csv_reading
from bot.importing.csv_import import ImportFailed, ImportKind, import_csv
from store.policy import DEFAULT_POLICY
from tests import factories as f
from tests.factories import NOW


def _errors(session: Session, kind: ImportKind, data: bytes | Path) -> list[str]:
    with pytest.raises(ImportFailed) as caught:
        import_csv(session, kind, data, policy=DEFAULT_POLICY, now=NOW, default_region="US")
    return [str(e) for e in caught.value.errors]


def test_a_field_over_128_kib_is_a_line_error_not_a_csv_error(session: Session) -> None:
    data = b"name,phone\nAna,+34612345678\n" + b"Bo," + b"9" * (200 * 1024) + b"\n"
    errors = _errors(session, ImportKind.CUSTOMERS, data)
    assert len(errors) == 1
    assert errors[0].startswith("line 3: a field is longer than 128 KiB")


def test_an_unknown_sku_is_reported_with_the_other_errors(session: Session) -> None:
    f.product(session, "MUG")
    f.customer(session, phone="+14155550100")
    data = b"number,phone,sku,quantity\nA1,+14155550100,MUG,zero\nA2,+14155550100,NOPE,1\n"
    errors = _errors(session, ImportKind.ORDERS, data)
    assert errors == [
        "line 2: quantity must be a whole number, got 'zero'",
        "line 3: unknown sku 'NOPE'",
    ]


def test_an_unknown_purchase_order_sku_is_reported_with_the_other_errors(session: Session) -> None:
    data = b"reference,supplier,sku,quantity\nPO1,Acme,NOPE,1\nPO1,Acme,NOPE,-1\n"
    errors = _errors(session, ImportKind.PURCHASE_ORDERS, data)
    assert errors == [
        "line 2: unknown sku 'NOPE'",
        "line 3: quantity must be at least 1, got -1",
    ]


def test_a_file_over_the_size_limit_is_refused_before_reading(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_reading, "MAX_FILE_BYTES", 1000)
    path = tmp_path / "big.csv"
    path.write_bytes(b"name,phone\n" + b"Ana,+34612345678\n" * 100)
    errors = _errors(session, ImportKind.CUSTOMERS, path)
    assert len(errors) == 1
    assert "larger than the 1,000 bytes an import may have" in errors[0]


def test_errors_past_the_cap_are_counted_not_kept(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_reading, "MAX_ERRORS", 5)
    data = b"name,phone\n" + b"Ana,not a phone\n" * 20
    with pytest.raises(ImportFailed) as caught:
        import_csv(session, ImportKind.CUSTOMERS, data, policy=DEFAULT_POLICY, now=NOW)
    assert len(caught.value.errors) == 5
    assert caught.value.more == 15
    assert "20 problem(s)" in str(caught.value)
