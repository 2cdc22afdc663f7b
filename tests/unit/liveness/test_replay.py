"""Near-duplicate replay on real photos: an edited copy lines up with its original, a
distinct photo of the same person does not, and a fingerprint survives its storage rows."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from bench.attacks2.edits import KINDS, edit
from services.liveness import replay
from tests.conftest import FACES

ORIGINAL = FACES / "guido_van_rossum" / "facerecpr1285_guido_van_rossum1.jpg"
SAME_PERSON = FACES / "guido_van_rossum" / "facerecpr1285_guido_van_rossum2.jpg"


@pytest.fixture(scope="module")
def index() -> replay.Index:
    idx = replay.Index()
    idx.add("v1", "subject-a", replay.fingerprint(cv2.imread(str(ORIGINAL))))
    return idx


@pytest.mark.parametrize("kind", KINDS)
def test_an_edited_copy_lines_up_with_its_original(index, kind) -> None:  # type: ignore[no-untyped-def]
    copy = edit(cv2.imread(str(ORIGINAL)), kind, 1.0, random.Random(3))
    consistent = index.consistent(*replay.queries(copy))
    assert replay.replayed_from(consistent) == ["subject-a"], consistent


@pytest.mark.parametrize("seed", range(5))
def test_a_crop_at_the_limit_is_found_whatever_its_sides(index, seed: int) -> None:  # type: ignore[no-untyped-def]
    """A 20% crop enlarges the content by 1.25 once normalised; the query's smaller
    working sizes meet the original's scale again (bench misses before: 3 of 67)."""
    copy = edit(cv2.imread(str(ORIGINAL)), "crop", 1.0, random.Random(100 + seed))
    assert replay.replayed_from(index.consistent(*replay.queries(copy))) == ["subject-a"]


def test_a_distinct_photo_of_the_same_person_is_no_replay(index) -> None:  # type: ignore[no-untyped-def]
    other = cv2.imread(str(SAME_PERSON))
    consistent = index.consistent(*replay.queries(other))
    assert replay.replayed_from(consistent) == [], consistent


def test_the_fingerprint_survives_its_storage_rows() -> None:
    fp = replay.fingerprint(cv2.imread(str(ORIGINAL)))
    rows = fp.rows()
    assert len(rows) == len(fp.points) >= 100
    assert all(len(h) == 64 and len(p) <= 40 for h, p in rows)  # ImageHashRow.phash / .purpose sizes
    back = replay.from_rows(rows)
    assert np.array_equal(back.descriptors, fp.descriptors)
    assert np.allclose(back.points, fp.points, atol=0.06)


def test_the_held_paper_is_left_out_of_what_is_stored() -> None:
    img = cv2.imread(str(ORIGINAL))
    h, w = img.shape[:2]
    fp = replay.fingerprint(img)
    kept = fp.outside([(0, 0, w / 2, h)])
    assert 0 < len(kept.points) < len(fp.points)
    assert (kept.points[:, 0] > 0.5 * w * fp.scale).all()


def test_the_stored_fingerprint_is_what_fingerprint_alone_gives() -> None:
    """stored_and_queries saves an ORB pass; what it stores must not change."""
    img = cv2.imread(str(FACES / "joe_biden" / "facerec_biden.jpg"))
    boxes = [(10, 20, 80, 60)]
    stored, queries = replay.stored_and_queries(img, boxes)
    alone = replay.fingerprint(img).outside(boxes)
    assert (stored.points == alone.points).all() and (stored.descriptors == alone.descriptors).all()
    assert len(queries) == 2 * len(replay.QUERY_SIDES)
    for a, b in zip(queries, replay.queries(img, boxes), strict=True):
        assert (a.descriptors == b.descriptors).all()
