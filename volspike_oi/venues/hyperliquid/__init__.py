"""Hyperliquid perpetuals: `HyperliquidClient` (REST `metaAndAssetCtxs`, `activeAssetCtx`
stream), its decoder (`decode.py`) and stream (`stream.py`)."""
