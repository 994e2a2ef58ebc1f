"""The catalog service: products, prices and stock, extracted from the monolith."""
