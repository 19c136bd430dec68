"""Everything that talks to Stripe: the gateway (the one funnel) and webhook handling."""
