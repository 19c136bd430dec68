"""Users and their balance configuration."""
