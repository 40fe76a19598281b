"""Completion webhooks: signed, retried with growing delays, every attempt recorded."""
