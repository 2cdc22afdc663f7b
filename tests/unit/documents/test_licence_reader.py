"""Business licences (营业执照): credit-code decisions on given readings, the enterprise
name comparison, and the reader on licences rendered by tests/docgen at every capture tier
(real Tesseract)."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

import random
from datetime import date

import cv2
import numpy as np
import pytest

from services.core.errors import DomainError
from services.core.reasons import Reason
from services.identity.documents import uscc
from services.identity.documents.enterprise_check import apply, compare_legal_representative
from services.identity.documents.licence_layout import FIELDS
from services.identity.documents.licence_reader import (
    CodeReading,
    check_code,
    check_date,
    looks_like_licence,
    organisation_code_ok,
    read_licence,
)
from services.identity.documents.model import DocumentKind, FieldStatus
from services.identity.documents.ocr import default_ocr
from services.identity.documents.reader import DocumentReader
from services.vision.faces import default_engine
from tests.docgen.business_licence import Licence, org_check_char, random_licence, render
from tests.docgen.capture import capture
from tests.docgen.cn_id_card import random_card, render_front
from tests.docgen.passport import random_document
from tests.docgen.passport import render as render_passport

TODAY = date(2026, 11, 22)
VALID = "91350100M000100Y43"  # the code printed on the published GB 32100 sample


def _reading(text: str, alts: str = "") -> CodeReading:
    return CodeReading(text, 0.95, [(c, 0.95, alts) for c in text])


def _code(region: str = "110105", body: str = "MA01ABCD") -> str:
    first17 = "91" + region + body + org_check_char(body)
    return first17 + uscc.check_char(first17)


# --- credit-code decisions -------------------------------------------------------------


def test_the_published_sample_code_is_valid() -> None:
    checked = check_code([_reading(VALID)], _reading(VALID))
    assert checked is not None and checked.status is FieldStatus.VALID and not checked.reasons


def test_a_classic_lookalike_is_corrected_only_because_the_check_character_confirms_it() -> None:
    code = _code()
    seen = code.replace("0", "O", 1)  # the all-letters reading saw O for 0
    checked = check_code([_reading(code)], _reading(seen))
    assert checked is not None and checked.status is FieldStatus.CORRECTED and checked.code == code
    assert checked.corrected_from == seen


def test_illegal_letters_that_no_lookalike_explains_are_malformed() -> None:
    code = _code()
    printed = code[:10] + "S" + code[11:]  # "S" where the code has "0": mapping S->5 does not check out
    assert uscc.check_char(printed[:17].replace("S", "5")) != printed[17]
    checked = check_code([_reading(code[:10] + "5" + code[11:])] * 4, _reading(printed))
    assert checked is not None and checked.status is FieldStatus.INVALID
    assert [r for r, _ in checked.reasons] == [Reason.CREDIT_CODE_MALFORMED]


def test_a_wrong_check_character_goes_to_review_and_is_never_repaired_elsewhere() -> None:
    code = _code()
    bad = code[:17] + next(c for c in uscc.ALPHABET if c != code[17])
    # Tesseract offering every confusion everywhere must still not make the code pass.
    checked = check_code([_reading(bad, "TQDG68B173A4")] * 4, _reading(bad))
    assert checked is not None and checked.status is FieldStatus.INVALID and checked.code == bad
    assert [r for r, _ in checked.reasons] == [Reason.CREDIT_CODE_CHECKSUM_FAILED]


def test_a_confusion_inside_the_organisation_code_is_repaired_when_tesseract_offered_it() -> None:
    code = _code(body="MA06KP3R")
    i = code.index("6", 8)
    misread = code[:i] + "G" + code[i + 1 :]
    checked = check_code([_reading(misread, "6")] * 4, _reading(misread))
    assert checked is not None and checked.status is FieldStatus.CORRECTED and checked.code == code
    # Without Tesseract's own alternative there is no evidence: review, not a guess.
    checked = check_code([_reading(misread)] * 4, _reading(misread))
    assert checked is not None and checked.status is FieldStatus.INVALID


def test_7_and_t_are_never_swapped_on_the_organisation_code_check_alone() -> None:
    # 7 and T are worth 7 and 29: GB 11714's mod-11 check cannot tell them apart.
    code = _code(body="MA07KP3R")
    i = code.index("7", 8)
    misread = code[:i] + "T" + code[i + 1 :]
    checked = check_code([_reading(misread, "7")] * 4, _reading(misread))
    assert checked is not None and checked.status is not FieldStatus.CORRECTED


def test_a_letter_that_could_be_printed_or_misread_is_reviewed() -> None:
    code = _code(body="MA0WKP3R")
    seen = code.replace("W", "V")  # a printed V (malformed) or a W read as V?
    checked = check_code([_reading(code)] * 4, _reading(seen))
    assert checked is not None and checked.status is FieldStatus.UNREADABLE


def test_a_short_reading_is_unreadable() -> None:
    checked = check_code([_reading(VALID[:15])] * 4, _reading(VALID[:15]))
    assert checked is not None and checked.status is FieldStatus.UNREADABLE
    assert checked.reasons[0][0] is Reason.FIELD_UNREADABLE


def test_the_organisation_code_check_character() -> None:
    assert organisation_code_ok(VALID)  # the published sample: M000100Y + 4
    assert not organisation_code_ok(VALID[:16] + "5" + VALID[17])


@pytest.mark.parametrize(
    ("readings", "status", "reason"),
    [
        (["2019年03月08日", "2019年03月08日"], FieldStatus.VALID, None),
        (["2019年02月30日", "2019年02月30日"], FieldStatus.INVALID, Reason.INVALID_DATE),
        (["2031年05月01日", "2031年05月01日"], FieldStatus.INVALID, Reason.INVALID_DATE),  # the future
        (["2019年02月30日", "2019年02月20日"], FieldStatus.UNREADABLE, Reason.FIELD_UNREADABLE),  # disagree
        (["20190308", "20190308"], FieldStatus.UNREADABLE, Reason.FIELD_UNREADABLE),
    ],
)
def test_establishment_dates(readings: list[str], status: FieldStatus, reason: Reason | None) -> None:
    _, got, reasons = check_date(readings, TODAY)
    assert got is status and [r for r, _ in reasons] == ([reason] if reason else [])


def test_legal_representative_names_compare_after_normalising() -> None:
    assert compare_legal_representative("张 伟", "张伟").matched
    assert compare_legal_representative("阿依古丽·买买提", "阿依古丽买买提").matched
    check = compare_legal_representative("张伟", "李娜")
    assert check.matched is False and check.reasons[0][0] is Reason.LEGAL_REPRESENTATIVE_MISMATCH
    assert compare_legal_representative("", "李娜").matched is None


# --- the reader on rendered licences ---------------------------------------------------


@pytest.fixture(scope="module")
def ocr():  # type: ignore[no-untyped-def]
    return default_ocr()


def _photo(tier: str, seed: int, invalid: str | None = None) -> tuple[Licence, np.ndarray]:
    rng = random.Random(f"unit-{tier}-{seed}")
    lic = random_licence(rng, TODAY, invalid)
    return lic, capture(render(lic, rng), tier, rng.randrange(1 << 30)).image


@pytest.mark.parametrize("tier", ["clean", "photo", "hard"])
def test_valid_licences_are_read_at_every_tier(ocr, tier: str) -> None:  # type: ignore[no-untyped-def]
    lic, image = _photo(tier, 1)
    doc = read_licence(image, TODAY, ocr)
    code = doc.fields["credit_code"]
    assert doc.kind is DocumentKind.CN_BUSINESS_LICENCE and doc.portrait_bgr is None
    if tier == "hard":  # blur, glare, JPEG 55-65: a code is either read right or sent to a person
        accepted = code.status in (FieldStatus.VALID, FieldStatus.CORRECTED)
        assert (code.value == lic.credit_code) if accepted else doc.verdict == "review"
    else:
        assert code.value == lic.credit_code and code.status in (FieldStatus.VALID, FieldStatus.CORRECTED)
    assert doc.verdict != "fail"
    _, _, w, h = code.box or (0, 0, 0, 0)
    assert max(w, h) > 80  # where the code is in the submitted photo (maybe turned by 90 degrees)
    if tier != "hard":  # Chinese text at the hard tier's resolution is beyond Tesseract's chi_sim
        assert doc.value("establishment_date") == lic.truth["establishment_date"]
        assert doc.value("company_name").endswith("有限公司")


def test_an_upside_down_licence_is_turned_by_its_emblem(ocr) -> None:  # type: ignore[no-untyped-def]
    lic, image = _photo("clean", 2)
    doc = read_licence(cv2.rotate(image, cv2.ROTATE_180), TODAY, ocr)
    assert doc.value("credit_code") == lic.credit_code
    assert doc.value("legal_representative") == lic.legal_representative
    # Without the PP-OCR recogniser (wheel not installed) Tesseract alone still reads the code.
    alone = read_licence(image, TODAY, ocr, text_lines=None)
    assert alone.value("credit_code") == lic.credit_code


@pytest.mark.parametrize(
    ("defect", "reason", "verdict"),
    [
        ("bad_check_char", Reason.CREDIT_CODE_CHECKSUM_FAILED, "review"),
        ("malformed", Reason.CREDIT_CODE_MALFORMED, "fail"),
        ("impossible_date", Reason.INVALID_DATE, "fail"),
    ],
)
def test_each_defect_gets_its_reason(ocr, defect: str, reason: Reason, verdict: str) -> None:  # type: ignore[no-untyped-def]
    _, image = _photo("clean", 3, defect)
    doc = read_licence(image, TODAY, ocr)
    assert reason in {r for r, _, _ in doc.reasons}
    assert doc.verdict == verdict


def test_a_covered_credit_code_is_unreadable_not_invalid(ocr) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random("unit-covered")
    lic = random_licence(rng, TODAY)
    doc_img = render(lic, rng)
    x, y, w, h = FIELDS["credit_code"]
    doc_img[y + 4 : y + h - 4, x + 180 : x + w] = doc_img[y + 4 : y + h - 4, x + 430 : x + 431]  # a sticker
    doc = read_licence(capture(doc_img, "clean", 1).image, TODAY, ocr)
    assert doc.fields["credit_code"].status is FieldStatus.UNREADABLE
    assert Reason.FIELD_UNREADABLE in {r for r, _, _ in doc.reasons} and doc.verdict == "review"


def test_a_photo_without_a_document_is_refused(ocr) -> None:  # type: ignore[no-untyped-def]
    desk = np.full((720, 960, 3), 90, np.uint8)
    with pytest.raises(DomainError) as err:
        read_licence(desk, TODAY, ocr)
    assert err.value.reason is Reason.NO_DOCUMENT_FOUND


def test_without_a_hint_licences_and_id_cards_are_told_apart(ocr) -> None:  # type: ignore[no-untyped-def]
    _, licence = _photo("photo", 4)
    rng = random.Random(5)
    card = capture(render_front(random_card(rng, TODAY), rng), "photo", 5).image
    passport_page, _ = render_passport(random_document(rng, TODAY, "passport_td3"), rng)
    passport = capture(passport_page, "photo", 6).image  # the licence's 1.42:1 proportions, but no emblem
    assert looks_like_licence(licence) and not looks_like_licence(card) and not looks_like_licence(passport)
    doc = DocumentReader(default_engine(), ocr).read(licence, None, None, TODAY)
    assert doc.kind is DocumentKind.CN_BUSINESS_LICENCE


def test_the_comparison_marks_the_compared_field(ocr) -> None:  # type: ignore[no-untyped-def]
    _, image = _photo("clean", 6)
    doc = read_licence(image, TODAY, ocr)
    apply(doc, "某某某", "legal_representative")
    assert doc.fields["legal_representative"].status is FieldStatus.INVALID
    assert Reason.LEGAL_REPRESENTATIVE_MISMATCH in {r for r, _, _ in doc.reasons} and doc.verdict != "pass"


def _bench_photo(key: str, invalid: str | None = None) -> tuple[Licence, np.ndarray]:
    """A licence exactly as `python -m bench.ocr_licence` draws it (key: seed-tier-i, on
    the tuning seeds 0-2)."""
    rng = random.Random(key)
    lic = random_licence(rng, TODAY, invalid)
    return lic, capture(render(lic, rng), key.split("-")[1], rng.randrange(1 << 30)).image


@pytest.mark.parametrize(
    "key",
    [
        "2-hard-6",  # a blurred T read as I by the all-letters reading (and 5 as S)
        "1-photo-39",  # a 9 read as O
        "0-photo-21",  # a 9 read as O at the organisation code's check
        "1-hard-11",  # a 9 read as S, a 0 as O
    ],
)
def test_a_letter_pp_ocr_and_tesseract_both_read_otherwise_is_not_taken_for_a_print(ocr, key: str) -> None:  # type: ignore[no-untyped-def]
    # The all-letters reading saw I, O or S; PP-OCR (which reads those letters too) and the
    # restricted readings agree on another character: the code is read, not sent to review.
    lic, image = _bench_photo(key)
    code = read_licence(image, TODAY, ocr).fields["credit_code"]
    assert code.value == lic.credit_code and code.status in (FieldStatus.VALID, FieldStatus.CORRECTED)


def test_a_code_line_off_its_box_is_found_in_the_band_around_it(ocr) -> None:  # type: ignore[no-untyped-def]
    # Flattened slightly off in perspective: the box holds the label and the top of the code.
    # Found by its label now, not its box; with its reading confirmed either way.
    lic, image = _bench_photo("2-photo-13")
    code = read_licence(image, TODAY, ocr).fields["credit_code"]
    assert code.value == lic.credit_code and code.status in (FieldStatus.VALID, FieldStatus.CORRECTED)


def test_tesseract_views_agreeing_on_an_impossible_code_are_not_a_correction(ocr) -> None:  # type: ignore[no-untyped-def]
    # Three views read 8 as B and 6 as E (an organisation-code check of E cannot be), and that
    # code passed the mod-31 check by chance; it was accepted before the structure was checked.
    lic, image = _bench_photo("0-hard-48")
    code = read_licence(image, TODAY, ocr).fields["credit_code"]
    accepted = code.status in (FieldStatus.VALID, FieldStatus.CORRECTED)
    assert code.value == lic.credit_code if accepted else code.status is not FieldStatus.VALID


def test_two_views_agreeing_on_a_code_that_checks_out_by_chance_are_not_enough() -> None:
    # Readings of 0-hard-48 and 0-hard-55 (hard tier): the wrong codes pass GB 32100 but have
    # no real code's structure (an E as the organisation code's check; a D->0 and T->1 pair
    # the GB 11714 check refutes).
    truth = "91231004MA34T9D01T"
    legal = [_reading(t) for t in ("91231004MA34T9D011", "91231004MA34T90011", "91231004MA34T90011")]
    legal.insert(0, CodeReading(truth, 0.9, source="ppocr"))
    checked = check_code(legal, _reading("91231004MA34T9001"))
    assert checked is not None and checked.code != "91231004MA34T90011"
    assert checked.status not in (FieldStatus.VALID, FieldStatus.CORRECTED) or checked.code == truth
    wrong = "91511129MAWMBTKREL"
    legal = [_reading(wrong), CodeReading("91511129MAWM8TKR6L", 0.9, source="ppocr"), _reading(wrong), _reading(wrong)]
    checked = check_code(legal, _reading("91511129MAWMSTKRGL"))
    assert checked is not None and checked.code != wrong


def test_a_check_character_q_every_reading_took_for_0_is_read_by_its_tail(ocr) -> None:  # type: ignore[no-untyped-def]
    lic, image = _bench_photo("2-photo-9")  # ...TCG12Q: all Tesseract readings say 0
    assert lic.credit_code.endswith("Q")
    code = read_licence(image, TODAY, ocr).fields["credit_code"]
    assert code.value == lic.credit_code and code.status in (FieldStatus.VALID, FieldStatus.CORRECTED)


def test_a_wrong_check_character_is_not_reshaped_into_a_right_one(ocr) -> None:  # type: ignore[no-untyped-def]
    # The same licence with 0 printed where Q belongs: a 0 has no tail, so nothing confirms Q.
    rng = random.Random("2-photo-9")
    lic = random_licence(rng, TODAY)
    lic.credit_code = lic.credit_code[:17] + "0"
    image = capture(render(lic, rng), "photo", rng.randrange(1 << 30)).image
    doc = read_licence(image, TODAY, ocr)
    assert doc.fields["credit_code"].status not in (FieldStatus.VALID, FieldStatus.CORRECTED)
    assert doc.verdict != "pass"


@pytest.mark.parametrize(
    ("key", "defect"),
    [
        ("safety-clean-3", "malformed"),  # V printed for W; two views read W, PP-OCR read V
        ("safety-clean-11", "malformed"),  # Z printed for 7; one all-letters reading said 7
        ("safety-photo-68", "bad_check_char"),  # Q printed where 0 checks out; two views said 0
    ],
)
def test_a_misreading_that_restores_an_altered_code_is_not_accepted(ocr, key: str, defect: str) -> None:  # type: ignore[no-untyped-def]
    # Each of these printed codes is invalid, and some Tesseract views misread exactly the
    # altered character back into the valid original; PP-OCR saw the printed letter (or the
    # glyph's tail shows the Q), so the code must not pass.
    _, image = _bench_photo(key, defect)
    doc = read_licence(image, TODAY, ocr)
    assert doc.fields["credit_code"].status not in (FieldStatus.VALID, FieldStatus.CORRECTED)
    assert doc.verdict != "pass"


@pytest.mark.parametrize(
    ("key", "defect"),
    [
        ("safety2-clean-54", "bad_check_char"),  # every Tesseract reading took the 6 for G: checks out
        ("safety2-clean-61", "malformed"),  # S printed; S->5 plus 6->E "confirmed" by the mod-11 check
        ("6-clean-bad-7", "malformed"),  # O printed; O->0 then 0->Q at the same letter checked out
    ],
)
def test_a_code_without_a_real_codes_structure_or_against_two_readers_is_not_accepted(  # type: ignore[no-untyped-def]
    ocr, key: str, defect: str
) -> None:
    _, image = _bench_photo(key, defect)
    doc = read_licence(image, TODAY, ocr)
    assert doc.fields["credit_code"].status not in (FieldStatus.VALID, FieldStatus.CORRECTED)
    assert doc.verdict != "pass"


@pytest.mark.parametrize(
    "key",
    [
        "4-photo-13",  # the last M half outside the box: read as I and 1, and failed as malformed
        "3-clean-39",  # a 9 at the organisation code's check read as Q by every Tesseract reading
        "4-hard-47",  # an 8 read as S, E, B and 5; PP-OCR and one view read 8
    ],
)
def test_codes_once_sent_to_review_or_failed_are_read(ocr, key: str) -> None:  # type: ignore[no-untyped-def]
    lic, image = _bench_photo(key)
    doc = read_licence(image, TODAY, ocr)
    code = doc.fields["credit_code"]
    assert code.value == lic.credit_code and code.status in (FieldStatus.VALID, FieldStatus.CORRECTED)
    assert doc.verdict != "fail"


def test_one_full_length_reading_is_not_enough_to_fail_a_code_as_malformed() -> None:
    # PP-OCR alone read 18 characters, the all-letters reading saw O, S and I where PP-OCR
    # has their look-alikes: a cut or blurred line, not proof of a forged code.
    seen = "91520526MAYPUOEGSI"
    legal = [_reading("91520526MAYPUDEGE"), CodeReading("91520526MAYPU0EG51", 0.9, source="ppocr")]
    checked = check_code([*legal, _reading("91520526MAPUEG")], _reading(seen))
    assert checked is not None and checked.status is FieldStatus.UNREADABLE


@pytest.mark.parametrize("key", ["4-hard-34", "3-hard-24"])  # 7 read as T, 8 as E by every Tesseract view
def test_pp_ocr_outvotes_tesseract_views_on_a_confusion_the_checks_confirm(ocr, key: str) -> None:  # type: ignore[no-untyped-def]
    lic, image = _bench_photo(key)
    code = read_licence(image, TODAY, ocr).fields["credit_code"]
    assert code.value == lic.credit_code and code.status in (FieldStatus.VALID, FieldStatus.CORRECTED)


# --- every layout, found by the printed labels -------------------------------------------


def _bench_layout(key: str) -> tuple[Licence, np.ndarray]:
    """A licence of another layout as `python -m bench.ocr_licence` draws it (key:
    seed-layout-tier-i, on the tuning seeds 0 and 1)."""
    rng = random.Random(key)
    lic = random_licence(rng, TODAY, None, key.split("-")[1])
    return lic, capture(render(lic, rng), key.split("-")[2], rng.randrange(1 << 30)).image


@pytest.mark.parametrize(
    "key",
    [
        "0-duplicate-hard-3",  # glare washes out the last four characters: read as DTT2MABFGP
        "0-vertical-hard-3",  # glare splits the line in two; neither piece long enough: not found
        "1-horizontal-hard-1",  # labels unreadable; 0605 washed out between 9122 and MANFCYNE1N
    ],
)
def test_a_code_line_cut_by_glare_is_read_in_full(ocr, key: str) -> None:  # type: ignore[no-untyped-def]
    lic, image = _bench_photo(key.replace("-horizontal", "")) if "horizontal" in key else _bench_layout(key)
    code = read_licence(image, TODAY, ocr).fields["credit_code"]
    assert code.value == lic.credit_code and code.status in (FieldStatus.VALID, FieldStatus.CORRECTED)


@pytest.mark.parametrize("layout", ["vertical", "duplicate", "individual"])
@pytest.mark.parametrize("tier", ["clean", "photo"])
def test_every_layout_is_read_by_its_labels(ocr, layout: str, tier: str) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(f"unit-layout-{layout}-{tier}")
    lic = random_licence(rng, TODAY, None, layout)
    image = capture(render(lic, rng), tier, rng.randrange(1 << 30)).image
    doc = DocumentReader(default_engine(), ocr).read(image, None, None, TODAY)  # no hint: classified too
    assert doc.kind is DocumentKind.CN_BUSINESS_LICENCE
    for key in ("credit_code", "company_name", "legal_representative", "establishment_date", "registered_capital"):
        assert doc.value(key) == lic.truth[key], key
    assert doc.verdict == "pass", doc.reasons
    if layout == "individual":  # 个体工商户: 经营者 is the legal representative, no capital printed
        assert lic.truth["registered_capital"] == "" and doc.value("company_type") == "个体工商户"


def test_a_portrait_licence_turned_on_its_side_is_read(ocr) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random("unit-vertical-turned")
    lic = random_licence(rng, TODAY, None, "vertical")
    image = capture(render(lic, rng), "clean", 3).image
    doc = read_licence(cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE), TODAY, ocr)
    assert doc.value("credit_code") == lic.credit_code
    assert doc.value("legal_representative") == lic.legal_representative


def test_a_doubtfully_read_legal_representative_goes_to_review(ocr) -> None:  # type: ignore[no-untyped-def]
    # The name's last character half rubbed out: whatever PP-OCR makes of it, it is not sure.
    rng = random.Random("unit-rubbed-name")
    lic = random_licence(rng, TODAY, None, "duplicate")
    page = render(lic, rng)
    clean = read_licence(capture(page, "clean", 1).image, TODAY, ocr)
    x, y, w, h = (int(v) for v in clean.fields["legal_representative"].box or (0, 0, 0, 0))
    x, y = x - 40, y - 40  # the clean capture's margin
    page[y + h // 2 : y + h, x + w - h : x + w] = page[y + h // 2 : y + h, x + w + 40 : x + w + 40 + h]
    doc = read_licence(capture(page, "clean", 1).image, TODAY, ocr)
    rep = doc.fields["legal_representative"]
    assert rep.value != lic.legal_representative or rep.confidence >= 0.93
    if rep.value != lic.legal_representative:
        assert rep.status is FieldStatus.UNREADABLE and doc.verdict == "review"


def test_a_small_licence_lost_by_the_classifiers_glance_is_still_routed_as_a_licence(ocr) -> None:  # type: ignore[no-untyped-def]
    # Hard tier, on a desk of similar tone: at the classifier's 480 px glance no outline is
    # found, and the licence was read as an ID card (PORTRAIT_NOT_FOUND).
    _, image = _bench_layout("1-duplicate-hard-0")
    assert looks_like_licence(image)
    doc = DocumentReader(default_engine(), ocr).read(image, None, None, TODAY)
    assert doc.kind is DocumentKind.CN_BUSINESS_LICENCE
