"""Live trading components: the Bybit liquidation data client, its config and factory."""
