"""Pieces of the shop packaged as serverless functions (Cloud Run functions, AWS Lambda)."""
