"""The notifications service: in-app notifications and their emails, extracted from the monolith."""
