"""OKX v5 USDT-margined perpetual swaps: strict decoding, the REST client and the public
WebSocket stream of open interest and mark prices."""
