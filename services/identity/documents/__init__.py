"""Identity documents: deterministic validation (cn_id, uscc, mrz) and reading."""
