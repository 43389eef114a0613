"""Local stand-ins for AWS and MTurk, used by tests and the demo."""
