"""ICAO 9303 MRZ parsing, check digits and check-digit-confirmed repair."""

from __future__ import annotations

from datetime import date

from services.core.reasons import Reason
from services.identity.documents import mrz

TODAY = date(2026, 11, 22)
# ICAO 9303's published specimens (Utopia, Anna Maria Eriksson).
TD3 = ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"]
TD1 = ["I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"]
SPECIMEN_DAY = date(2010, 1, 1)  # the specimens expire in 2012


def test_check_digit_of_the_specimen_document_number() -> None:
    assert mrz.check_digit("L898902C3") == "6"
    assert mrz.check_digit("740812") == "2"


def test_td3_specimen_parses_and_validates() -> None:
    r = mrz.parse(TD3, SPECIMEN_DAY)
    assert r.valid, r.reasons
    assert (r.fields["surname"], r.fields["given_names"]) == ("ERIKSSON", "ANNA MARIA")
    assert r.fields["document_number"] == "L898902C3" and r.fields["nationality"] == "UTO"
    assert r.birth_date == date(1974, 8, 12) and r.expiry_date == date(2012, 4, 15) and r.fields["sex"] == "F"
    assert all(r.checks.values())


def test_td1_specimen_parses_and_validates() -> None:
    r = mrz.parse(TD1, SPECIMEN_DAY)
    assert r.valid, r.reasons
    assert r.fields["document_number"] == "D23145890" and r.fields["surname"] == "ERIKSSON"


def test_expired_document() -> None:
    r = mrz.parse(TD3, TODAY)
    assert [c for c, _, _ in r.reasons] == [Reason.DOCUMENT_EXPIRED]


def test_ocr_confusions_are_repaired_only_when_check_digits_confirm() -> None:
    ocr = [TD3[0].replace("<<<<<", "KKKKK", 2), TD3[1].replace("L898902C3", "L8989O2C3").replace("7408122", "74O8122")]
    r = mrz.parse(ocr, SPECIMEN_DAY)
    assert r.valid, r.reasons
    assert r.fields["document_number"] == "L898902C3" and r.fields["birth_date"] == "740812"
    assert {"document_number", "birth_date"} <= r.corrected
    assert r.fields["given_names"] == "ANNA MARIA"


def test_wrong_check_digits_are_reported_per_field() -> None:
    bad = TD3[1][:9] + "5" + TD3[1][10:]  # document number check digit 6 -> 5
    r = mrz.parse([TD3[0], bad], SPECIMEN_DAY)
    fields = {f for c, _, f in r.reasons if c is Reason.MRZ_CHECK_DIGIT_FAILED}
    assert "mrz.document_number" in fields and "mrz.composite" in fields


def test_chinese_passport_line_two_without_filler() -> None:
    # Line 2 of a Chinese passport: the optional field is filled with letters, no '<'.
    number, birth, expiry, personal = "E12345678", "900101", "300101", "LCOCKMOLNNBDAA"
    body = (
        number
        + mrz.check_digit(number)
        + "CHN"
        + birth
        + mrz.check_digit(birth)
        + "M"
        + expiry
        + mrz.check_digit(expiry)
        + personal
        + mrz.check_digit(personal)
    )
    composite = mrz.check_digit(body[0:10] + body[13:20] + body[21:43])
    line2 = body + composite
    assert "<" not in line2 and len(line2) == 44
    r = mrz.parse(["POCHNZHANG<<SAN<<<<<<<<<<<<<<<<<<<<<<<<<<<<<", line2], TODAY)
    assert r.valid, r.reasons
    assert r.fields["personal_number"] == personal and r.fields["surname"] == "ZHANG"


def test_no_mrz() -> None:
    assert mrz.parse(["only one line"], TODAY).reasons[0][0] is Reason.MRZ_NOT_FOUND
