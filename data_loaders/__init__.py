"""Loaders that turn recorded or purchased market data into the NautilusTrader catalog."""
