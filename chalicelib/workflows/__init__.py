"""Step Functions state machines (ASL), the code that starts them, and the
stream and schedule use cases that feed them."""
