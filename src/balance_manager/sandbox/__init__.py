"""An offline, stateful emulator of the Stripe API surface this service uses."""
