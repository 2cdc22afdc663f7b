# Seller Verify: one image, every service; SELLERVERIFY_SERVICES picks what a container
# serves (empty = all of them). Models ship inside the installed wheels: nothing is
# downloaded at run time.
#
#   docker build -t sellerverify:0.1.0 .
#   docker run -p 50051:50051 -v sv-data:/var/lib/sellerverify sellerverify:0.1.0
#
# Two stages: the compiler and the Tesseract headers (tesserocr is built from source
# against Debian's Tesseract) stay in the build stage; the runtime image gets the virtualenv.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends libtesseract-dev libleptonica-dev pkg-config g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY protos ./protos
COPY scripts ./scripts
COPY services ./services
COPY clients ./clients
# insightface and rapidocr-onnxruntime (only its PP-OCRv4 recogniser model is used) without
# their dependencies: they would pull the GUI build of OpenCV over the headless one (both
# own cv2/). The generated gRPC code is build output: make it, then
# install again so the wheel carries it.
RUN python -m venv /opt/sellerverify \
 && /opt/sellerverify/bin/pip install . \
 && /opt/sellerverify/bin/pip install --no-deps "insightface>=0.7" \
 && /opt/sellerverify/bin/pip install --no-deps "rapidocr-onnxruntime>=1.4,<1.5" \
 && /opt/sellerverify/bin/pip install --no-binary tesserocr "tesserocr>=2.6" \
 && /opt/sellerverify/bin/python scripts/build_protos.py \
 && /opt/sellerverify/bin/pip install --no-deps --force-reinstall . \
 && /opt/sellerverify/bin/python -c "import sellerverify.v1.identity_pb2, tesserocr, services.server" \
 && /opt/sellerverify/bin/python -c "from services.vision.ppocr import model_path; assert model_path()"

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/sellerverify/bin:$PATH \
    OMP_THREAD_LIMIT=1 \
    SELLERVERIFY_HOST=0.0.0.0 \
    SELLERVERIFY_PORT=50051 \
    SELLERVERIFY_DATA_DIR=/var/lib/sellerverify
# Tesseract (pulls libtesseract5 for tesserocr) with Chinese and English data; the
# OCR-B and CJK fonts are what the document reader was tuned on.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-chi-sim tesseract-ocr-eng \
      fonts-ocr-b fonts-wqy-zenhei \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/sellerverify --shell /usr/sbin/nologin sellerverify \
 && mkdir -p /var/lib/sellerverify \
 && chown sellerverify:sellerverify /var/lib/sellerverify
COPY --from=build /opt/sellerverify /opt/sellerverify

USER sellerverify
WORKDIR /var/lib/sellerverify
VOLUME ["/var/lib/sellerverify"]
EXPOSE 50051
# gRPC health: the service named in SELLERVERIFY_HEALTH_SERVICE, or every service when unset.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD sellerverify --address "127.0.0.1:${SELLERVERIFY_PORT}" --timeout 4 health \
      ${SELLERVERIFY_HEALTH_SERVICE:+--service "$SELLERVERIFY_HEALTH_SERVICE"} || exit 1
ENTRYPOINT ["sellerverify"]
CMD ["serve"]
