"""OAI-PMH 2.0 data provider over the store."""
