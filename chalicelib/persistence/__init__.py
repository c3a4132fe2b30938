"""DynamoDB adapter (PynamoDB models and repositories). AWS errors become domain errors here."""
