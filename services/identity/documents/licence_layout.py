"""Where things are on a Chinese business licence (营业执照, 2019 layout, landscape), on the
canonical 1200x850 canvas (roughly A4/A3 proportions, 1.41:1). Boxes are (x, y, w, h) and
hold the printed values (not the labels), with a few pixels of slack for rectification.
"""

from __future__ import annotations

LIC_W, LIC_H = 1200, 850

# Red national emblem, top centre; the registration seal (also red) sits bottom right, so
# red ink in this box tells which way is up.
EMBLEM = (555, 28, 90, 90)
TITLE = (456, 124, 288, 90)
QR = (1030, 48, 118, 118)

FIELDS: dict[str, tuple[int, int, int, int]] = {
    "credit_code": (50, 168, 400, 56),
    "company_name": (206, 246, 460, 50),
    "company_type": (206, 306, 460, 50),
    "legal_representative": (206, 366, 460, 50),
    "business_scope": (206, 426, 460, 220),
    "registered_capital": (816, 246, 340, 50),
    "establishment_date": (816, 306, 340, 50),
    "business_term": (816, 366, 340, 50),
    "address": (816, 426, 340, 96),
    "registration_authority": (816, 676, 340, 50),
    "registration_date": (816, 736, 340, 50),
}
