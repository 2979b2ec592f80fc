"""Command-line entry point of the liquidation-cascade NautilusTrader plugin."""
