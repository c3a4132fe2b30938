"""Entities, rules and policies in plain Python: no AWS SDK imports here."""
