"""Relasi CRM: everything the Lambda functions run, besides the wiring in app.py."""
