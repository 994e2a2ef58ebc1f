"""Load for the shop: a well-behaved client and the Locust users that drive it (`make load`)."""
