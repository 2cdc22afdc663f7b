# Seller Verify: one image, every service; SELLERVERIFY_SERVICES picks what a container serves.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    OMP_THREAD_LIMIT=1 \
    SELLERVERIFY_HOST=0.0.0.0 \
    SELLERVERIFY_PORT=50051 \
    SELLERVERIFY_DATA_DIR=/var/lib/sellerverify

RUN apt-get update \
 && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-chi-sim tesseract-ocr-eng \
      fonts-ocr-b fonts-wqy-zenhei libtesseract-dev libleptonica-dev pkg-config g++ \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY protos ./protos
COPY scripts ./scripts
COPY services ./services
COPY clients ./clients
RUN pip install . \
 && pip install --no-deps "insightface>=0.7" \
 && pip install --no-binary tesserocr "tesserocr>=2.6" \
 && python scripts/build_protos.py \
 && pip install --no-deps --force-reinstall . \
 && useradd --system --uid 10001 --home /var/lib/sellerverify sellerverify \
 && mkdir -p /var/lib/sellerverify && chown sellerverify /var/lib/sellerverify

USER sellerverify
EXPOSE 50051
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD sellerverify --address 127.0.0.1:50051 health --service "${SELLERVERIFY_HEALTH_SERVICE:-}" || exit 1
ENTRYPOINT ["sellerverify"]
CMD ["serve"]
