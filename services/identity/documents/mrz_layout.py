"""Where things are on ICAO 9303 documents, on canonical canvases at 10 px/mm.

TD3 passport data page: 125 x 88 mm -> 1250 x 880. TD1 card: 85.6 x 54 mm -> 856 x 540.
The MRZ geometry follows ICAO 9303 (10 characters per inch -> 25.4 px pitch; lines about
4.2 mm apart; the zone is the bottom ~23% of a TD3 page, ~33% of a TD1 back). The
visual-zone boxes are this suite's reference layout (the generator in tests/docgen
renders it); boxes are (x, y, w, h).
"""

from __future__ import annotations

TD3_W, TD3_H = 1250, 880
TD1_W, TD1_H = 856, 540
PITCH = 25.4  # px per MRZ character (10 cpi at 10 px/mm)
MRZ_LEFT = {"TD3": 66, "TD1": 47}  # left edge of the first MRZ character cell
MRZ_LINE_CENTRES = {"TD3": (746, 818), "TD1": (404, 446, 488)}
MRZ_BAND = {"TD3": (0, 670, TD3_W, TD3_H - 670), "TD1": (0, 355, TD1_W, TD1_H - 355)}

TD3_PORTRAIT = (45, 150, 330, 420)
TD3_VIZ: dict[str, tuple[int, int, int, int]] = {
    "document_code": (400, 148, 90, 46),
    "issuing_state": (540, 148, 140, 46),
    "document_number": (800, 148, 330, 46),
    "surname": (400, 230, 480, 46),
    "given_names": (400, 312, 700, 46),
    "nationality": (400, 394, 480, 46),
    "birth_date": (400, 476, 320, 46),
    "sex": (800, 476, 90, 46),
    "issue_date": (400, 558, 320, 46),
    "expiry_date": (800, 558, 320, 46),
}
TD1_PORTRAIT = (36, 110, 230, 300)
TD1_VIZ: dict[str, tuple[int, int, int, int]] = {
    "surname": (290, 110, 540, 40),
    "given_names": (290, 178, 540, 40),
    "sex": (290, 246, 70, 40),
    "nationality": (420, 246, 140, 40),
    "birth_date": (600, 246, 240, 40),
    "document_number": (290, 314, 300, 40),
    "expiry_date": (600, 314, 240, 40),
}
