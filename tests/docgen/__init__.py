"""Our own document generator: realistic layouts, Debian fonts, capture tiers."""
