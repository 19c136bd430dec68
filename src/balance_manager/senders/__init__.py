"""Outgoing HTTP that is not Stripe: ``webhook`` POSTs operator webhooks with httpx and returns
every outcome as a value. Imports nothing of the service (only its version, for the
User-Agent); the use cases and the dispatcher hand it a signed request.
"""
