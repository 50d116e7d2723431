"""Venues: one folder per exchange (client, decoding, streams); what they share lives outside."""
