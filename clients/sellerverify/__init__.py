"""Seller Verify: Python SDK (Client), generated stubs (sellerverify.v1) and the CLI."""

from sellerverify.client import Client, FieldViolation, SellerVerifyError

__all__ = ["Client", "FieldViolation", "SellerVerifyError"]
